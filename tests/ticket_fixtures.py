"""Fixtures shared by the ticket rendering and printer tests: the fonts and a sample ticket."""
from __future__ import annotations

import pytest

from kiosk.fonts import FontSet, find_fonts
from kiosk.ticket_image import TicketView

URL = "https://qms.hue.gov.vn/t/HT-042?d=2025-11-24&k=8f3a9c"


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    return find_fonts()


@pytest.fixture()
def view() -> TicketView:
    return TicketView(
        center_name="Trung tâm Phục vụ hành chính công tỉnh Thừa Thiên Huế",
        service_name="Hộ tịch – Khai sinh, kết hôn",
        service_name_en="Civil status – births, marriages",
        code="HT-042",
        issued_at=1_764_000_000.0,  # 2025-11-24 16:00 UTC = 23:00 in Hà Nội
        people_ahead=7,
        estimated_wait_s=11 * 60,
        status_url=URL,
    )
