"""The head of a small generated export (one dataset type, one run), shared by the bulk-import tests."""

HEADER = """description: Butler Data Repository Export
version: 1.0.2
universe_version: 8
universe_namespace: daf_butler
data:
- type: dataset_type
  name: meta
  dimensions:
  - instrument
  - visit
  - detector
  storage_class: StructuredDataDict
  is_calibration: false
- type: run
  name: run1
"""
