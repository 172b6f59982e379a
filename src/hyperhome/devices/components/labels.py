"""Labels people give things: a user of a lock, a finger, a camera zone, a known face's name.

One pattern for all (the lock and the camera had written it twice): 1 to 64 characters, letters,
digits, space, ``_``, ``.`` and ``-``, starting with a letter or digit. Unlike an id
(``broker.topics.ID_PATTERN``) a label is never part of a topic.
"""

from __future__ import annotations

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"
