"""The registry tests use the demo catalogues and private folders of the TAP tests."""

from tests.tap.conftest import _own_folders, demo, live_tap, live_tap_env

__all__ = ["_own_folders", "demo", "live_tap", "live_tap_env"]
