"""modelctl: the control plane for the LLMs a team uses."""

__version__ = "0.1.0"
