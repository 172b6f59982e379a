"""The web API and the live dashboard of a home (FastAPI; docs/web.md).

```python
link = HomeLink(home.connect, home.credentials.controller, home.topics, clock=home.clock)
async with serve(create_app(link, runs=WebRuns()), port=8000) as url:
    ...                                  # the dashboard is at url, OpenAPI at url + "docs"
```
"""

from __future__ import annotations

from hyperhome.web.app import HomeLink, Settings, create_app
from hyperhome.web.runs import ScenarioRuns
from hyperhome.web.serve import serve

__all__ = ["HomeLink", "ScenarioRuns", "Settings", "create_app", "serve"]
