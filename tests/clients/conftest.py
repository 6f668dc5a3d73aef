"""The real VO clients (STILTS, TOPCAT, pyvo, astroquery) use the running portal of the TAP tests."""

from tests.tap.conftest import _own_folders, live_tap, live_tap_env

__all__ = ["_own_folders", "live_tap", "live_tap_env"]
