"""Worked example configs, shipped inside the package so `streamer demo` finds demo.yaml."""
