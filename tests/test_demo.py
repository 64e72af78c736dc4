"""`worldmodel demo` in a real browser: headless Chromium (Debian's package) driven by Playwright.

The page is served from this process, so the test can compare what the browser shows with each
player's own session on the server. Screenshots go to $WM_SCREENSHOTS (default: the test's tmp dir).
"""
from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worldmodel import Action, World

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _need(what: str, ok: bool):
    if not ok:
        if os.environ.get("CI"):      # CI installs all of it: a missing piece there is a failure
            pytest.fail(f"{what} is missing; .ci/run installs it")
        pytest.skip(f"{what} is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _need("playwright", sync_playwright is not None)
    _need("chromium", Path(CHROMIUM).is_file())
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo(tiny_world):
    pytest.importorskip("gradio")
    from play.gradio_app import Demo
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = Demo(tiny_world, max_players=2)
    blocks = d.launch("127.0.0.1", port, prevent_thread_lock=True)
    d.url = f"http://127.0.0.1:{port}"
    yield d
    blocks.close()


@pytest.fixture
def shots(tmp_path):
    out = Path(os.environ.get("WM_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_page(browser, demo):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.goto(demo.url)
    page.wait_for_selector("#wm-frame img", timeout=60_000)
    return ctx, page


def step_of(page) -> int:
    return int(page.get_attribute("#wm-frame img", "data-step"))


def shown_frame(page) -> np.ndarray:
    src = page.get_attribute("#wm-frame img", "src")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def wait_for(cond, timeout=30.0, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def player_with_image(demo, name: str):
    """The server-side player whose session started from the uploaded file `name`."""
    for p in list(demo.players._players.values()):
        if p is not None and str(p.session.image).endswith(name):
            return p
    return None


def upload(page, path: Path):
    # the page in front: with three players' pages opened after it, set_input_files on the first
    # page hung for 30 s (even on its first upload) in 2 of 6 runs here and in two CI runs; with
    # bring_to_front it passed 3 of 3 runs (not yet proof)
    page.bring_to_front()
    page.set_input_files("#wm-upload input[type=file]", str(path))


def test_two_players_hold_keys_and_keep_their_own_frames(browser, demo, tiny_world, tmp_path, shots):
    a_img, b_img = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 90, dtype=np.uint8)[None, :, None], (60, 1, 3))).save(a_img)
    Image.fromarray((np.arange(40 * 40).reshape(40, 40) % 7 * 30).astype(np.uint8)).convert("P").save(b_img)

    ctx_a, a = open_page(browser, demo)
    ctx_b, b = open_page(browser, demo)
    try:
        upload(a, a_img)
        upload(b, b_img)
        wait_for(lambda: player_with_image(demo, "a.png") and player_with_image(demo, "b.png"), what="both uploads")
        pa, pb = player_with_image(demo, "a.png"), player_with_image(demo, "b.png")
        assert pa is not pb and len(demo.players) == 2

        # frames arrive, and follow the held keys: A holds right, B holds left (each page its own keys)
        s0 = step_of(a)
        a.keyboard.down("ArrowRight")
        b.keyboard.down("ArrowLeft")
        wait_for(lambda: "keys: right" in a.inner_text("#wm-frame .wm-status"), what="A's status to show the key")
        wait_for(lambda: "keys: left" in b.inner_text("#wm-frame .wm-status"), what="B's status to show the key")
        time.sleep(1.0)
        a.keyboard.up("ArrowRight")
        b.keyboard.up("ArrowLeft")
        wait_for(lambda: "keys: idle" in a.inner_text("#wm-frame .wm-status"), what="A's key release")
        wait_for(lambda: step_of(a) - s0 >= 5 and step_of(b) >= 5, what="frames to keep arriving on both pages")
        a.screenshot(path=str(shots / "demo_player_a.png"))
        b.screenshot(path=str(shots / "demo_player_b.png"))

        # pause both, then the page shows exactly its own session's current frame
        for page in (a, b):
            page.get_by_role("button", name="Pause / resume").click()
        wait_for(lambda: pa.session.paused and pb.session.paused, what="pause")
        time.sleep(0.5)
        for page, p in ((a, pa), (b, pb)):
            wait_for(lambda: step_of(page) == p.session.steps, what="the last frame to reach the page")
            assert np.array_equal(shown_frame(page), p.session.frame)
        # two sessions, each from its own image. (Their current frames may coincide: the tiny test world has
        # random weights and soon forgets its start frame, and both players draw the same seeded noise.)
        assert pa.session is not pb.session
        assert not np.array_equal(pa.session.played()[0], pb.session.played()[0])

        # the frames are what the keys made: replaying A's actions gives A's frames; idle ones do not
        acts = [act for act, _ in pa.session.history[1:]]
        assert any(act.keys == {"right"} for act in acts) and all(act.keys <= {"right"} for act in acts)
        replay = World.from_pretrained(tiny_world)
        played = pa.session.played()
        assert np.array_equal(replay.reset(str(a_img)), played[0])
        frames = [replay.step(act) for act in acts]
        assert all(np.array_equal(x, y) for x, y in zip(frames, played[1:]))
        idle = World.from_pretrained(tiny_world)
        idle.reset(str(a_img))
        idle_frames = [idle.step(Action()) for _ in acts]
        held = [i for i, act in enumerate(acts) if act.keys]
        diff = np.mean([np.abs(idle_frames[i].astype(int) - played[i + 1]).mean() for i in held])
        assert diff > 1.0, f"frames made with the key held are nearly those of idle play ({diff:.2f})"

        # closing a page frees its world
        ctx_b.close()
        wait_for(lambda: len(demo.players) == 1, what="the closed page's world to be freed")
    finally:
        ctx_a.close()
        if ctx_b.pages:
            ctx_b.close()
    wait_for(lambda: len(demo.players) == 0, what="all worlds freed")


def test_bad_input_branches_download_and_busy(browser, demo, tmp_path, shots):
    import av
    ctx_a, a = open_page(browser, demo)
    ctx_b, b = open_page(browser, demo)
    ctx_c = None
    try:
        # a third player while two play: a clear busy message, no world
        ctx_c, c = browser.new_context(), None
        c = ctx_c.new_page()
        c.goto(demo.url)
        c.wait_for_selector("#wm-frame .wm-busy", timeout=60_000)
        assert "Busy" in c.inner_text("#wm-frame") and len(demo.players) == 2
        ctx_c.close()

        # bad uploads: each a message on the page, and the world plays on
        msg = lambda: a.inner_text("#wm-message")  # noqa: E731
        (tmp_path / "notes.txt").write_text("not an image")
        upload(a, tmp_path / "notes.txt")
        wait_for(lambda: "Could not use that file" in msg(), what="the non-image message")
        (tmp_path / "cut.png").write_bytes((Path(__file__).parent.parent / "checkpoints/doom/start.png").read_bytes()[:200])
        upload(a, tmp_path / "cut.png")
        wait_for(lambda: "cut.png" in msg() and "truncated or corrupt" in msg(), what="the truncated-file message")
        s0 = step_of(a)
        wait_for(lambda: step_of(a) > s0 + 3, what="frames after a bad upload")
        for name, img in (("one.png", Image.new("RGB", (1, 1), (200, 10, 10))),
                          ("huge.png", Image.new("RGB", (8000, 8000), (10, 200, 10))),
                          ("alpha.png", Image.new("RGBA", (50, 30), (10, 10, 200, 128)))):
            img.save(tmp_path / name)
            upload(a, tmp_path / name)
            wait_for(lambda: f"your image ({name})" in msg(), timeout=60, what=f"{name} to be accepted")
            expected = World.from_pretrained(demo.default).reset(str(tmp_path / name))
            wait_for(lambda: player_with_image(demo, name) is not None, what=name)
            assert np.array_equal(player_with_image(demo, name).session.played()[0], expected)
        p = player_with_image(demo, "alpha.png")

        # counterfactuals: mark, play, back to the mark (the marked frame again), play, compare
        a.click("#wm-mark")
        wait_for(lambda: p.session.marked, what="the mark")
        marked = p.session._mark[1]
        a.keyboard.down("ArrowRight")
        wait_for(lambda: len(p.session.branch) >= 4, what="a branch")
        a.keyboard.up("ArrowRight")
        a.click("#wm-back")
        wait_for(lambda: p.session.previous_branch is not None, what="back to the mark")
        assert np.array_equal(p.session.previous_branch[0], marked)
        a.keyboard.down("ArrowDown")
        wait_for(lambda: len(p.session.branch) >= 4, what="a second branch")
        a.keyboard.up("ArrowDown")
        a.click("#wm-compare")
        a.wait_for_selector("#wm-branches video", timeout=30_000)
        wait_for(lambda: "The two branches" in msg(), what="the comparison")

        # download what was played
        a.click("#wm-save")
        a.wait_for_selector("#wm-download a", timeout=30_000)
        wait_for(lambda: "frames at" in msg(), what="the MP4")
        (mp4,) = p.dir.glob("worldmodel-*.mp4")
        with av.open(str(mp4)) as f:
            n = sum(1 for _ in f.decode(video=0))
        assert n >= 10
        a.screenshot(path=str(shots / "demo_branches.png"), full_page=True)
    finally:
        for ctx in (ctx_a, ctx_b, ctx_c):
            if ctx is not None and ctx.pages:
                ctx.close()
    wait_for(lambda: len(demo.players) == 0, what="all worlds freed")


def test_demo_command_line_refusals(capsys, tiny_world):
    pytest.importorskip("gradio")
    from worldmodel.cli import main
    assert main(["demo", "--checkpoint", "no-such-world"]) == 2
    assert "no checkpoint folder or shipped world named" in capsys.readouterr().err
    assert main(["demo", "--idle-minutes", "-1"]) == 2
    assert "--idle-minutes must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--port", "99999"])
    assert "a port is 1-65535" in capsys.readouterr().err
    with socket.socket() as busy:                      # a port someone else holds: say so, no traceback
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        import torch
        threads = torch.get_num_threads()
        try:
            assert main(["demo", str(tiny_world), "--port", str(port)]) == 2
        finally:
            torch.set_num_threads(threads)               # the command set 1 for its server
    assert "pick another with --port" in capsys.readouterr().err


def test_gallery_touch_buttons_mouse_and_settings(browser, demo, shots):
    ctx, page = open_page(browser, demo)
    try:
        sid_players = lambda: [p for p in demo.players._players.values() if p is not None]  # noqa: E731
        wait_for(lambda: len(sid_players()) == 1, what="the player")
        p = sid_players()[0]
        # pick the shipped doom world (first-person; a distilled student, which the page plays on its fast path)
        page.locator("#wm-gallery button").filter(has_text="doom").first.click()
        wait_for(lambda: "Playing **doom**" in page.inner_text("#wm-message") or "Playing doom" in page.inner_text("#wm-message"),
                 what="the doom world")
        assert p.session.world.fast is True and "KeyW" in p.keymap
        assert page.is_visible("#wm-key-KeyW") and page.is_visible("#wm-key-TurnLeft")
        assert not page.is_visible("#wm-key-ArrowUp")                     # doom has no arrow keys
        assert "mouse over the frame" in page.inner_text("#wm-keys")

        # a touch button held, then released
        box = page.locator("#wm-key-KeyW").bounding_box()
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.down()
        wait_for(lambda: "keys: w" in page.inner_text("#wm-frame .wm-status"), what="the touch button")
        page.mouse.up()
        page.mouse.move(box["x"] - 40, box["y"] - 40)
        wait_for(lambda: "keys: w" not in page.inner_text("#wm-frame .wm-status"), what="the touch release")

        # mouse motion over the frame turns: it reaches the actions as mouse_dx
        img = page.locator("#wm-frame img").bounding_box()
        n0 = len(p.session.history)
        for i in range(12):
            page.mouse.move(img["x"] + 100 + 20 * i, img["y"] + 200)
            time.sleep(0.05)
        wait_for(lambda: any(a is not None and a.mouse_dx > 0 for a, _ in p.session.history[n0:]), what="mouse turn")

        page.screenshot(path=str(shots / "demo_doom.png"))
        # settings: a distilled world (boxing) switched to its teacher path, then its steps
        page.locator("#wm-gallery button").filter(has_text="boxing").first.click()
        wait_for(lambda: "Playing **boxing**" in page.inner_text("#wm-message") or "Playing boxing" in page.inner_text("#wm-message"),
                 what="the boxing world")
        wait_for(lambda: p.session.world.fast is True, what="the boxing student")
        page.locator("#wm-path").get_by_label("teacher (slow)").check()
        wait_for(lambda: p.session.world.fast is False, what="the teacher path")
        wait_for(lambda: "Now the teacher" in page.inner_text("#wm-message"), what="the path message")
        assert p.session.world.steps == 8
    finally:
        ctx.close()
    wait_for(lambda: len(demo.players) == 0, what="the world freed")


class FakeRequest:
    def __init__(self, sid):
        self.session_hash = sid


def test_players_seats_idle_timeout_and_bad_controls(tiny_world):
    pytest.importorskip("gradio")
    from play.gradio_app import Demo
    d = Demo(tiny_world, max_players=1, idle_minutes=0.005)          # 0.3 s without input
    first = d.play_loop(FakeRequest("a"))
    assert 'data-step="1"' in next(first)
    assert "Busy" in next(d.play_loop(FakeRequest("b")))            # one seat, taken
    p = d.players.get("a")
    for bad in ("not json", '{"codes": 5}', '{"dx": "NaN", "dy": 1e300}', '[1, 2]', ""):
        p.set_controls(bad)                                           # ignored or made safe, never fatal
    a = p.action()
    assert a.keys == frozenset() and abs(a.mouse_dy) <= 1000
    p.set_controls('{"codes": ["ArrowRight", "Nonsense", "MouseLeft"], "dx": 3, "dy": 0}')
    a = p.action()
    assert a.keys == {"right"} and a.buttons == {"left"} and a.mouse_dx == 3
    assert p.action().mouse_dx == 0                                   # motion is used once
    rest = list(first)                                                # runs until the idle limit
    assert "without input" in rest[-1]
    assert len(d.players) == 0 and not p.dir.exists()                 # the seat and its files are freed
    assert 'data-step' in next(d.play_loop(FakeRequest("b")))         # so the next player gets in
    d.players.leave("b")
    with pytest.raises(ValueError, match="fps"):
        Demo(tiny_world, fps=-1)
