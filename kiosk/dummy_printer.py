"""A python-escpos ``Dummy`` that answers status queries like a real printer and can fail."""
from __future__ import annotations

from escpos.constants import RT_STATUS
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Dummy

from .printer_config import SimulatedFault

class FaultInjectingDummy(Dummy):
    """python-escpos' ``Dummy`` that answers status queries like a real printer and can fail.

    Like OctoPrint's virtual printer: chosen by configuration (``type = "dummy"``,
    ``simulate = "no_paper"``), it lets tests and demos drive every fault path through
    the same code that talks to real hardware. ``silent`` is a printer that never
    answers status queries (a read timeout) but prints. Status answers are the bytes an Epson-
    compatible printer sends for ``DLE EOT 1/2/4``, so python-escpos' own parsing runs.
    """

    #: (DLE EOT 1 printer status, DLE EOT 2 offline cause, DLE EOT 4 paper sensor)
    _ANSWERS: dict[str, tuple[int, int, int]] = {
        "none": (0x12, 0x12, 0x12),
        "paper_low": (0x12, 0x12, 0x1E),
        "no_paper": (0x1A, 0x32, 0x72),
        "cover_open": (0x1A, 0x16, 0x12),
        "error": (0x1A, 0x52, 0x12),
    }

    def __init__(self, fault: SimulatedFault = "none", **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.fault = fault
        self._last_query = b""

    def open(self, raise_not_found: bool = True) -> None:
        if self.fault == "unplugged":
            raise DeviceNotFoundError("Unable to open USB printer: simulated unplugged cable")

    def _raw(self, msg: bytes) -> None:
        if self.fault == "timeout":
            raise TimeoutError("simulated write timeout (pyusb raises USBTimeoutError)")
        if msg.startswith(RT_STATUS):
            self._last_query = msg
            return  # a query is not part of the printed output
        super()._raw(msg)

    def _read(self) -> bytes:
        if self.fault == "silent":
            raise TimeoutError("simulated read timeout: this printer never answers status queries")
        answers = self._ANSWERS.get(self.fault, self._ANSWERS["none"])
        which = {b"\x01": 0, b"\x02": 1, b"\x04": 2}.get(self._last_query[2:3])
        if which is None:
            return b""
        return bytes((answers[which],))
