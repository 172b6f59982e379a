"""A home: its file (``homefile``: devices, residents, rules, voice grammar), the logins it runs
under, and the running home itself (``runtime.Home``: broker, devices, orchestrator, clock, fault
proxies). Scenarios (``hyperhome.scenarios``) and the web API run on it."""
