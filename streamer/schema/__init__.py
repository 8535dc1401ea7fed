"""The config's building blocks, the lowest layer of the package (it imports no other
streamer module but ``health_state`` and ``redact``), one module per thing it holds:

- :mod:`~streamer.schema.base`: the base model (unknown keys are errors, instances frozen);
- :mod:`~streamer.schema.network`: URL and host policy (control characters, plain http, loopback);
- :mod:`~streamer.schema.geometry`: polygon checks (crossing edges, mixed units);
- :mod:`~streamer.schema.rule_parts`: settings rule types share (event, schedule, clip, band);
- :mod:`~streamer.schema.sections`: the fixed sections (camera, zones, tracker, outbox, monitor...);
- :mod:`~streamer.schema.bases`: the plugin bases and the root model they hang from;
- :mod:`~streamer.schema.checks`: checks across sections;
- :mod:`~streamer.schema.secrets`: the secrets a config holds.

Import from the module that holds a name; this package re-exports nothing, so a name has
one home.
"""
