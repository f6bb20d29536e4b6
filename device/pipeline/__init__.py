"""The video pipeline: capture -> watermark -> encode -> pre-event buffer -> segment writer."""
