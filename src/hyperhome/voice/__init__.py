"""Voice: the intent grammar (CN/EN) and its parser, a dependency-light leaf package.

Devices (the car's on-board assistant) and the orchestrator's voice service both use it; it
imports nothing else of HyperHome. See docs/voice.md.

```python
from hyperhome.voice import Grammar
grammar = Grammar.default()
grammar.parse("小爱同学 把客厅空调调到二十四度")
# Parse(wake_word='小爱同学', lang='zh', intent='climate.set_temperature',
#       slots={'room': 'living', 'device': 'air_conditioner', 'number': 24}, ...)
```
"""

from __future__ import annotations

from hyperhome.voice.grammar import LANGS, Grammar, GrammarFile, Lang, Parse, guess_lang, merge, normalize

__all__ = ["LANGS", "Grammar", "GrammarFile", "Lang", "Parse", "guess_lang", "merge", "normalize"]
