"""A fleet: many homes living their days, over every core and past one machine (docs/fleet.md)."""
