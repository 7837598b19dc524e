"""The scan's real-process fixtures (a folder of photos with one broken file), shared by the store's tests."""

from ..scan.conftest import ENV, IMAGES, SCAN_MODEL, photos  # noqa: F401 (photos is a fixture)
