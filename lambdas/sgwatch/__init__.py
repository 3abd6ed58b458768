"""sgwatch: watches every change to AWS security groups and says which change matters and why."""

__version__ = "0.1.0"
