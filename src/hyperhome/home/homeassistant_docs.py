"""docs/home-assistant.md, generated from the device models, the one ACL table and the demo home
(here, in home/, because it reads the shipped demo home).

``python -m hyperhome.home.homeassistant_docs > docs/home-assistant.md`` rewrites it; a
test fails when the page and the models drift apart.
"""

from __future__ import annotations

import sys

from hyperhome.broker.acl import Access, rules_for
from hyperhome.broker.credentials import HomeCredentials, Principal, Role
from hyperhome.broker.topics import DEFAULT_HA_PREFIX, Topics, discovery_node
from hyperhome.conventions import homeassistant
from hyperhome.devices.catalog import KINDS
from hyperhome.home.homefile import load_home

INTRO = """# Home Assistant

Generated from the device models by `python -m hyperhome.home.homeassistant_docs >
docs/home-assistant.md`; do not edit by hand (a test fails when this page and the models drift
apart).

`hyperhome up --home-assistant` (or `home_assistant: true` in the home file) makes every device
speak Home Assistant's [MQTT discovery](https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
a Home Assistant pointed at the broker finds every device, with its entities, in its own area,
and drives them. Tested against a real Home Assistant 2024.3.3 (the last release for Python
3.11) on both brokers (`tests/homeassistant/`).

## Point a Home Assistant at HyperHome in five minutes

1. Bring the home up with discovery on (`--home-assistant-prefix` if your Home Assistant uses
   another discovery prefix than `homeassistant`):

```bash no-run
hyperhome up --home-assistant
```

2. Read the Home Assistant login from the credentials file; the broker's port is in it too:

```bash up-with=--home-assistant
C=~/.local/state/hyperhome/credentials.json
jq '{{host, port, home_assistant: (.home_assistant | {{username, prefix}})}}' $C
jq -r .home_assistant.password $C     # the password (a new one on every up, unless --password)
```

3. In Home Assistant, turn on *Advanced mode* in your user profile, then *Settings > Devices &
   services > Add integration > MQTT*: broker `127.0.0.1` and that port (HyperHome's brokers
   listen on the host in the credentials file: run Home Assistant on the same machine, or give
   `up --port` and reach that host), the username and password above, and under *Advanced
   options* the **client ID: the username again** (a login has one client id: the broker refuses
   any other). Keep discovery on with the prefix above. Home Assistant connects, and within
   seconds every device appears under *Devices*, each in its room's area.

4. Check what it sees, with the same login:

```bash up-with=--home-assistant
C=~/.local/state/hyperhome/credentials.json; H=$(jq -r .host $C); P=$(jq -r .port $C)
U=$(jq -r .home_assistant.username $C); W=$(jq -r .home_assistant.password $C)
mosquitto_sub -h $H -p $P -u "$U" -i "$U" -P "$W" -t 'homeassistant/+/+/+/config' -C {count} -W 20 -v | wc -l
```

   That is one retained config per entity: {count} for the demo home.

## How it works

- **Every device publishes its own discovery configs, with its own login**, on its own
  connection: retained, one per entity (the per-entity form; 2024.3 has no device-level
  discovery), after every (re)connect (a restarted broker has lost what was retained) and again
  whenever Home Assistant's birth message (`{{prefix}}/status` = `online`) arrives. The home's own
  device (every device's `via_device`) is published by the orchestrator, and the devices'
  first configs go out after it (Home Assistant links a device to its hub only if the hub is
  there when the device is made). So no client writes
  another's configs: the one ACL table gives each device exactly
  `{{prefix}}/+/{{node}}/+/config` for its own `node` and a read of `{{prefix}}/status`.
- Discovery topics are `{{prefix}}/{{component}}/{{node}}/{{entity}}/config` with
  `node = {{len(home)}}_{{home}}_{{device}}` (e.g. `{example}`): one topic level per device, one-to-one
  (ids may contain `_`, so a plain `{{home}}_{{device}}` could meet another home's).
- One Home Assistant device per HyperHome device: identifiers `hyperhome.{{home}}.{{device}}`,
  the device's name, the kind as the model, manufacturer `{manufacturer}`, `suggested_area` from
  the room, `via_device` the home. Every entity's availability is the device's `$availability`.
- Commands from Home Assistant go to the devices' own `cmd/{{command}}` topics: the discovery
  configs' command templates build the command's JSON (`{{"args": {{...}}}}`), so there is no second
  command path. One adapter was needed, in the lock's model: Home Assistant's lock sends both
  lock and unlock to one topic, so the lock has `set {{"locked": true|false}}` (the app's lock
  and unlock in one command).
- The door camera's picture is its still (`hyperhome/{{home}}/{{device}}/still`, a retained PNG:
  grey while live, black while privacy covers the lens; docs/protocol.md).
- A null state field shows as *unknown* (Home Assistant 2024.3 logs a warning for a null time).

## The `home_assistant` login

Username `{{home}}.$home_assistant`, client id the same; in the credentials file as
`home_assistant: {{username, password, prefix, commands}}`. What it may do, from the ACL table
(demo home), on both brokers:

{rules}

`commands` lists the `{{device}}/{{command}}` pairs its entities send and nothing else: not
`unlock` with a PIN, not the test stimuli (`simulate.*`), not the phone's hotspot. On a broker
given by URL the logins are the operator's (docs/point-at-mosquitto.md); the devices still
publish their discovery configs.

## Which entity each kind becomes

Derived by rules over the models, never written per kind (`hyperhome.conventions.homeassistant`):
a `power`/`mode`/`target_c` state one command sets is a `climate`; a `locked` state a command
sets is a `lock`; a `location` of a kind with the `location` capability is a `device_tracker`
(`home`/`not_home`, GPS attributes when the location is `lat,lon`); a kind with a still image
is a `camera`; the events `motion` and `person_detected` are `binary_sensor`s (on for
{off_delay} s); every other scalar state field is a `switch`, `number` or `select` when a
command sets it alone, else a `binary_sensor` or `sensor`, its unit and device class from the
field name's suffix. Adding a field to a model adds its entity. Entity ids are
`{{component}}.{{device}}_{{field}}` (the main entity: `{{component}}.{{device}}`, `-` read as `_`).
"""


def _rules() -> str:
    creds = HomeCredentials.generate("demo", [])
    plan = load_home("demo")
    principal = Principal(
        home=creds.home,
        role=Role.HOME_ASSISTANT,
        discovery_prefix=DEFAULT_HA_PREFIX,
        ha_commands=tuple(homeassistant.commands(plan.devices)),
    )
    rules = rules_for(principal, plan.root)
    lines = ["| may publish | may subscribe |", "|---|---|"]
    pubs = [f"`{r.pattern}`" for r in rules if r.access is Access.PUBLISH]
    subs = [f"`{r.pattern}`" for r in rules if r.access is Access.SUBSCRIBE]
    lines.append(f"| {', '.join(pubs)} | {', '.join(subs)} |")
    return "\n".join(lines)


def _kinds() -> str:
    out = []
    for name, kind in sorted(KINDS.items()):
        out.append(f"\n### `{name}`\n")
        out.append("| entity | platform | name | shows / drives | sends |")
        out.append("|---|---|---|---|---|")
        for plan in homeassistant.entities(kind):
            entity = f"`{plan.component}.{{device}}{'_' + plan.key if plan.key else ''}`"
            sends = ", ".join(f"`cmd/{c}`" for c in plan.commands)
            out.append(f"| {entity} | {plan.component} | {plan.name or '(the device)'} | `{plan.source}` | {sends} |")
    return "\n".join(out)


def demo_entities() -> list[str]:
    """Every entity id the demo home makes in Home Assistant, the home's own device included."""
    plan = load_home("demo")
    topics = Topics(plan.home, plan.root)
    ids = []
    for spec in plan.devices:
        for topic, payload in homeassistant.configs(spec, topics):
            ids.append(f"{topic.split('/')[1]}.{payload['object_id']}")
    _, hub = homeassistant.hub_config(plan.home, plan.name or plan.home, topics)
    return [*ids, f"binary_sensor.{hub['object_id']}"]


def render() -> str:
    ids = demo_entities()
    intro = INTRO.format(
        count=len(ids),
        example=discovery_node("demo", "living-ac"),
        manufacturer=homeassistant.MANUFACTURER,
        rules=_rules(),
        off_delay=homeassistant.EVENT_OFF_DELAY_S,
    )
    demo = "\n".join(f"- `{entity}`" for entity in ids)
    return (
        intro
        + _kinds()
        + f"\n\n## The demo home's {len(ids)} entities\n\n"
        + "What a Home Assistant 2024.3.3 creates for `hyperhome up --home-assistant` (checked by"
        + " `tests/homeassistant/`):\n\n"
        + demo
        + "\n"
    )


if __name__ == "__main__":
    sys.stdout.write(render())
