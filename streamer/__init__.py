"""streamer: a per-camera runtime from video frames to delivered safety events.

Data flows one way: source -> detect -> track -> rules -> events -> sinks; only
``streamer.pipeline.build_pipeline`` knows every stage.
"""

__version__ = "0.1.0"
