"""Every page works under the Content-Security-Policy: no inline script, handler or style is refused.

The page fixture (conftest.py) fails a test on any CSP violation in the console; here a staff user
walks the pages that used inline markup before, and those behaviours are checked to still work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from apps.files.actions import do_create_volume, do_ensure_default_volumes, do_sync_roots
from apps.files.models import Volume
from apps.query import actions as query_actions
from tests.conftest import make_user
from tests.files.conftest import configure_roots

from .test_signup_to_sharing import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def vera(settings: Any, tmp_path: Path, live_server: Any) -> User:
    settings.SITE_URL = live_server.url
    configure_roots(settings, tmp_path / "files")
    do_sync_roots()
    user = make_user("vera", is_staff=True, is_superuser=True)
    do_ensure_default_volumes(user)
    return user


def test_the_policy_is_sent_and_forbids_inline_script(browser: Browser, live_server: Any) -> None:
    page = browser.new_context().new_page()  # not the page fixture: this violation is the point
    response = page.goto(live_server.url + "/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'self'" in script_src and "unsafe-inline" not in script_src
    blocked = page.evaluate("""() => new Promise(resolve => {
        document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective));
        const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s);
    })""")
    assert blocked.startswith("script-src") and page.evaluate("window.ran") is None
    page.context.close()


def test_the_pages_with_former_inline_markup_work(page: Page, live_server: Any, vera: User) -> None:
    base = live_server.url
    log_in(page, base, "vera", "vera-password")
    for path in ("/", "/data/", "/query/", "/tap/", "/files/", "/access/groups/", "/accounts/profile/", "/activity/",
                 "/admin/", "/admin/access/group/add/", f"/admin/auth/user/{vera.pk}/change/"):
        page.goto(base + path)
        expect(page.locator("body")).to_be_visible()

    # The MyDB space bar gets its width from script (it had style="width: N%").
    page.goto(base + "/query/jobs/")
    assert page.eval_on_selector(".space-bar span", "el => el.style.width").endswith("%")

    # The error caret under a failed query's line (it had style="--col: Nch").
    job = query_actions.do_create_job(vera, query="SELECT ra FROM nowhere WHERE", language="ADQL")
    query_actions.do_run_job(job)
    page.goto(f"{base}/query/jobs/{job.id}/")
    carets = page.locator(".error-caret")
    if carets.count():
        assert page.eval_on_selector(".error-caret", "el => el.style.getPropertyValue('--col')").endswith("ch")

    # Deleting a volume asks first (it had onsubmit="return confirm(...)"); dismissing keeps it.
    storage = Volume.objects.get(owner=vera, is_default=True, root__name="Storage").root
    volume = do_create_volume(vera, storage, "scratch-notes")
    page.goto(f"{base}/files/v/{volume.pk}/")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete this volume").click()
    assert asked and "Delete the volume" in asked[0]
    expect(page.get_by_role("button", name="Delete this volume")).to_be_visible()
    assert Volume.objects.filter(pk=volume.pk).exists()
