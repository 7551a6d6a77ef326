"""hvprov: declarative provisioning of Hyper-V hosts over WinRM and SSH."""

__version__ = "0.1.0"
