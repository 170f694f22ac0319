"""What an Xid means and what to do about it (domain.md §1.9; the texts dcgm-exporter puts in err_msg)."""

from __future__ import annotations

#: Application-level: the GPU is fine; the device plugin ignores these (13, 31, 43, 45, 68, 109).
APPLICATION = {
    13: "Graphics Engine Exception",
    31: "GPU memory page fault",
    43: "GPU stopped processing",
    45: "Preemptive cleanup, due to previous errors",
    68: "NVDEC0 Exception",
    109: "Context Switch Timeout Error",
}
#: Hardware/driver health: the device plugin marks the GPU unhealthy; drain → reset/reboot → RMA if recurring.
HARDWARE = {
    48: "Double Bit ECC Error",
    63: "ECC page retirement or row remapping recording event",
    64: "ECC page retirement or row remapper recording failure",
    74: "NVLINK Error",
    79: "GPU has fallen off the bus",
    92: "High single-bit ECC error rate",
    94: "Contained ECC error",
    95: "Uncontained ECC error",
    119: "GSP RPC Timeout",
    120: "GSP Error",
    154: "GPU Recovery Action Changed",
}


def meaning(xid: int) -> str:
    return HARDWARE.get(xid) or APPLICATION.get(xid) or "unlisted Xid (see NVIDIA's Xid catalog)"


def is_hardware(xid: int) -> bool:
    """Unlisted, non-application Xids count as hardware: the device plugin marks them unhealthy too."""
    return xid > 0 and xid not in APPLICATION
