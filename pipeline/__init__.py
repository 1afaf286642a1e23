"""emberwatch: early warning for social-media crises.

The package is laid out by architecture:

* ``pipeline.core``     pure domain logic (windows, scores, alert lifecycle), no I/O;
* ``pipeline.*``        adapters and entrypoints: settings, records, catalog, app, CLI, broker;
* ``agents``            the thin Faust agents;
* ``models``            the mention classifier and its artifacts.
"""

__version__ = "0.1.0"
