"""`worldmodel demo`: play a world in the browser. A Gradio page over the same `PlaySession` as
the pygame window; no model code here, no UI in the model.

How a frame gets to the page: on load, each browser session starts one streaming event
(`play_loop`) that steps its own world at the world's frame rate and yields the frame as an
inline PNG inside a `gr.HTML`: a `gr.Image` output would write every frame to a file that the
browser then fetches in a second request, which on 2 shared cores cost a large share of the
frame rate in a prototype. Held keys, mouse motion over the frame and the
touch buttons are the one thing Gradio has no component for: a small script (JS below) keeps
the set of held key codes and writes it, with the mouse motion, into a hidden textbox whose
`change` event updates that player's controls. Everything else is Gradio's own components.
"""
from __future__ import annotations

import base64
import io
import json
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from worldmodel import Action, World
from worldmodel.image import ImageError
from worldmodel.world_checkpoint import resolve_checkpoint, shipped_dir, shipped_worlds

from .keymaps import (BINDINGS, MOUSE_CODES, TOUCH_BUTTONS, browser_help, browser_keymap, touch_visible,
                      turn_pixels)
from .session import PlaySession

FRAME_PX = 512                       # the frame's size on the page (pixels stay crisp: pixelated)
MAX_MOUSE = 1000.0                   # frame pixels per message; beyond is not a hand, it is bad input

JS = """
() => {
  const CODES = new Set(%(codes)s);
  const held = new Set();
  let dx = 0, dy = 0, timer = null;
  const NOT_TEXT = ['checkbox', 'radio', 'button', 'range', 'file', 'submit', 'reset'];
  const typing = (e) => { const t = e.target; return t && ((t.tagName === 'INPUT' && !NOT_TEXT.includes(t.type))
                                                           || t.tagName === 'TEXTAREA' || t.isContentEditable); };
  function send() {
    timer = null;
    const box = document.querySelector('#wm-input textarea');
    if (!box) return;
    box.value = JSON.stringify({codes: [...held], dx: dx, dy: dy, t: performance.now()});
    dx = 0; dy = 0;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }
  function soon() { if (!timer) timer = setTimeout(send, 40); }
  function press(code) { if (!held.has(code)) { held.add(code); send(); } }
  function release(code) { if (held.delete(code)) send(); }
  document.addEventListener('keydown', (e) => {
    if (typing(e) || !CODES.has(e.code)) return;
    e.preventDefault(); press(e.code);
  });
  document.addEventListener('keyup', (e) => { if (CODES.has(e.code) && !typing(e)) e.preventDefault(); release(e.code); });
  window.addEventListener('blur', () => { if (held.size) { held.clear(); send(); } });
  const frame = (e) => e.target.closest && e.target.closest('#wm-frame img');
  document.addEventListener('mousemove', (e) => {
    const img = frame(e); if (!img || !img.clientWidth) return;
    const k = img.naturalWidth / img.clientWidth;      // screen pixels -> frame pixels
    dx += e.movementX * k; dy += e.movementY * k; soon();
  });
  document.addEventListener('mousedown', (e) => { if (frame(e)) { e.preventDefault(); press(e.button === 2 ? 'MouseRight' : 'MouseLeft'); } });
  document.addEventListener('mouseup', () => { release('MouseLeft'); release('MouseRight'); });
  document.addEventListener('contextmenu', (e) => { if (frame(e)) e.preventDefault(); });
  const touch = (e) => e.target.closest && e.target.closest('.wm-key');
  document.addEventListener('pointerdown', (e) => { const b = touch(e); if (b) { e.preventDefault(); press(b.id.slice(7)); } });
  for (const ev of ['pointerup', 'pointercancel', 'pointerout']) {
    document.addEventListener(ev, (e) => { const b = touch(e); if (b) release(b.id.slice(7)); });
  }
}
"""

CSS = """
#wm-frame img { width: %(px)dpx; max-width: 100%%; height: auto; image-rendering: pixelated; display: block; }
#wm-frame .wm-status { font-family: monospace; font-size: 13px; padding: 4px 0; }
#wm-frame .wm-busy { padding: 48px 16px; font-size: 18px; }
.wm-key { touch-action: none; user-select: none; }
"""


class Player:
    """One browser session: its PlaySession and the controls the page last sent."""

    def __init__(self, session: PlaySession):
        self.session = session
        self.codes: set[str] = set()
        self.dx = self.dy = 0.0
        self.uncapped = False
        self.last_input = time.perf_counter()    # any message from the page; idle players are let go
        self.dir = Path(tempfile.mkdtemp(prefix="worldmodel-demo-"))   # its MP4s; removed when it leaves
        self.lock = threading.Lock()
        self.use(session)

    def use(self, session: PlaySession) -> None:
        world = session.world
        self.session = session
        self.keymap = browser_keymap(world.config)
        self.turn = turn_pixels(world.action_set)

    def set_controls(self, payload: str) -> None:
        """Held codes and mouse motion from the page; anything malformed is ignored, not fatal."""
        try:
            msg = json.loads(payload or "{}")
            codes = {str(c) for c in msg.get("codes", [])}
            dx, dy = float(msg.get("dx", 0.0)), float(msg.get("dy", 0.0))
        except (ValueError, TypeError, AttributeError):
            return
        if not (math.isfinite(dx) and math.isfinite(dy)):
            dx = dy = 0.0
        with self.lock:
            self.last_input = time.perf_counter()
            self.codes = codes
            self.dx = float(np.clip(self.dx + dx, -MAX_MOUSE, MAX_MOUSE))
            self.dy = float(np.clip(self.dy + dy, -MAX_MOUSE, MAX_MOUSE))

    def action(self) -> Action:
        """The action for the next frame: held keys, the mouse moved since the last frame."""
        with self.lock:
            codes, dx, dy = set(self.codes), self.dx, self.dy
            self.dx = self.dy = 0.0
        dx += self.turn * (("TurnRight" in codes) - ("TurnLeft" in codes))
        return Action(keys=frozenset(self.keymap[c] for c in codes if c in self.keymap),
                      mouse_dx=dx, mouse_dy=dy, buttons=frozenset(MOUSE_CODES[c] for c in codes if c in MOUSE_CODES))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Players:
    """Who is playing: one Player per browser session, at most `limit` at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self._players: dict[str, Player] = {}
        self._lock = threading.Lock()

    def join(self, sid: str, make) -> Player | None:
        """The player of session `sid`, made with `make()` if new; None when the demo is full."""
        with self._lock:
            if sid in self._players:
                return self._players[sid]
            if len(self._players) >= self.limit:
                return None
            self._players[sid] = None  # hold the seat while the world loads
        try:
            player = make()
        except BaseException:
            with self._lock:
                self._players.pop(sid, None)
            raise
        with self._lock:
            self._players[sid] = player
        return player

    def get(self, sid: str) -> Player | None:
        with self._lock:
            return self._players.get(sid)

    def leave(self, sid: str) -> None:
        with self._lock:
            player = self._players.pop(sid, None)
        if player is not None:
            player.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._players)


def frame_html(frame: np.ndarray, status: str, step: int) -> str:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="png", compress_level=1)
    src = base64.b64encode(buf.getvalue()).decode()
    return (f'<img src="data:image/png;base64,{src}" data-step="{step}" alt="the world" draggable="false">'
            f'<div class="wm-status">{status}</div>')


def busy_html(limit: int) -> str:
    return (f'<div class="wm-busy">Busy: {limit} player{"s" if limit > 1 else ""} already '
            'playing on this machine. Try again in a minute (reload the page).</div>')


class Demo:
    """The demo server: which worlds it offers, how many players, and the Gradio page."""

    def __init__(self, checkpoint=None, *, max_players: int = 2, device=None, seed: int = 0,
                 fps: float | None = None, idle_minutes: float = 10.0):
        """fps: frames per second per player (None: the world's own rate; 0: as fast as it goes)."""
        if max_players < 1:
            raise ValueError(f"max_players must be >= 1, got {max_players}")
        if fps is not None and not (math.isfinite(fps) and fps >= 0):
            raise ValueError(f"fps must be >= 0, got {fps}")
        if not idle_minutes > 0:
            raise ValueError(f"idle_minutes must be > 0, got {idle_minutes}")
        self.idle_minutes = idle_minutes
        self.default = resolve_checkpoint(checkpoint)
        World.from_pretrained(self.default, device=device)   # a broken checkpoint fails here, not per player
        self.worlds = {name: shipped_dir() / name for name in shipped_worlds()}
        if self.default not in self.worlds.values():
            self.worlds = {self.default.name: self.default, **self.worlds}
        self.device, self.seed, self.fps = device, seed, fps
        self.players = Players(max_players)

    # ----- worlds and players -------------------------------------------------------------
    def new_session(self, path: Path, image=None) -> PlaySession:
        return PlaySession(World.from_pretrained(path, device=self.device, seed=self.seed), image)

    def player(self, request: gr.Request | None) -> Player:
        p = self.players.get(request.session_hash) if request is not None else None
        if p is None:
            raise gr.Error("This page has no world (the demo was full or restarted): reload the page.")
        return p

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(path / "start.png"), name) for name, path in self.worlds.items() if (path / "start.png").is_file()]

    # ----- event handlers -----------------------------------------------------------------
    def play_loop(self, request: gr.Request):
        """The page's frame stream: step this session's world at its frame rate, yield frames.
        Ends when the page goes (unload, or the stream is closed), or after `idle_minutes`
        without any input from the page, which frees the seat for someone else."""
        sid = request.session_hash
        player = self.players.join(sid, lambda: Player(self.new_session(self.default)))
        if player is None:
            yield busy_html(self.players.limit)
            return
        last = None
        try:
            while self.players.get(sid) is player:
                t0 = time.perf_counter()
                if t0 - player.last_input > 60 * self.idle_minutes:
                    yield (f'<div class="wm-busy">Stopped after {self.idle_minutes:g} minutes without input, '
                           'to free the seat. Reload the page to play again.</div>')
                    return
                s = player.session
                try:
                    frame = s.step(player.action())
                    html = frame_html(frame, s.status_line(), s.steps)
                except Exception as e:           # a failing step must not kill the page: say it, go on
                    html = f'<div class="wm-busy">Error while stepping the world: {e}</div>'
                    time.sleep(1.0)
                if html != last:
                    yield html
                    last = html
                rate = 0 if player.uncapped else (self.fps if self.fps is not None else s.world.fps)
                wait = (1.0 / rate if rate else 0.0) - (time.perf_counter() - t0)
                time.sleep(max(wait, 0.002))
        finally:
            if self.players.get(sid) is player:
                self.players.leave(sid)

    def leave(self, request: gr.Request) -> None:
        self.players.leave(request.session_hash)

    def controls(self, payload: str, request: gr.Request) -> None:
        p = self.players.get(request.session_hash)
        if p is not None:
            p.set_controls(payload)

    def upload(self, file, request: gr.Request):
        """An uploaded file: start this world from it if it is an image. The upload box is
        emptied either way, ready for the next file."""
        p = self.player(request)
        path = getattr(file, "name", file)
        if path is None:
            return gr.update(), None
        try:
            p.session.reset(path)
        except ImageError as e:
            why = str(e).replace(str(path), Path(path).name)    # not the server's temp folder
            gr.Warning(f"Not usable as an image: {why}")
            return f"**Could not use that file:** {why}. The world goes on from where it was.", None
        return f"Playing from your image ({Path(path).name}), fitted to {p.session.world.resolution[0]} px.", None

    def choose_world(self, evt: gr.SelectData, request: gr.Request):
        """A click in the gallery: that shipped world, from its start frame."""
        p = self.player(request)
        name = list(self.gallery())[evt.index][1]
        with p.lock:
            p.use(self.new_session(self.worlds[name]))
        return (f"Playing **{name}**.", *self.world_widgets(p))

    def widgets(self, request: gr.Request) -> tuple:
        """On load: the widgets for the session's world (its stream makes the player; wait for it)."""
        for _ in range(600):
            p = self.players.get(request.session_hash)
            if p is not None:
                return self.world_widgets(p)
            time.sleep(0.05)
        return tuple(gr.update() for _ in range(4 + len(TOUCH_BUTTONS)))

    def set_uncapped(self, on: bool, request: gr.Request) -> None:
        self.player(request).uncapped = bool(on)

    def world_widgets(self, p: Player) -> tuple:
        """Updates of the widgets that depend on the world: keymap, settings, touch buttons."""
        w = p.session.world
        paths = gr.update(interactive=w.fast is not None,
                          value="student (fast)" if w.fast in (None, True) else "teacher (slow)")
        touch = [gr.update(visible=touch_visible(code, w.config, w.action_set)) for _, code in TOUCH_BUTTONS]
        return (browser_help(w.config, w.action_set), paths, gr.update(value=w.steps),
                gr.update(value=w.guidance_scale), *touch)

    def set_path(self, choice: str, request: gr.Request):
        p = self.player(request)
        w = p.session.world
        if w.fast is None:
            return "This world has no student/teacher pair.", gr.update(), gr.update()
        p.session.set_fast(choice.startswith("student"))
        w = p.session.world
        return f"Now the {choice}: {w.steps} steps, guidance {w.guidance_scale:g}.", w.steps, w.guidance_scale

    def set_sampling(self, steps, guidance, request: gr.Request):
        w = self.player(request).session.world
        if (int(steps), float(guidance)) == (w.steps, w.guidance_scale):
            return gr.update()                   # the sliders only followed the world: nothing to say
        try:
            self.player(request).session.set_sampling(int(steps), float(guidance))
        except ValueError as e:
            gr.Warning(str(e))
            return f"**Setting refused:** {e}"
        return f"{int(steps)} denoising steps, guidance {float(guidance):g}."

    def command(self, what: str, request: gr.Request) -> str:
        s = self.player(request).session
        try:
            if what == "pause":
                s.paused = not s.paused
                return "Paused." if s.paused else "Playing."
            if what == "reset":
                s.reset()
                return "Back at the start image."
            if what == "mark":
                s.mark()
                return "Marked this frame. Play on, then **Back to mark** to try another way."
            if what == "back":
                s.back_to_mark()
                return "Back at the marked frame. Play another way, then **Compare branches**."
        except ValueError as e:
            gr.Warning(str(e))
            return f"**{e}**"
        raise ValueError(f"unknown command {what!r}")

    def compare(self, request: gr.Request):
        p = self.player(request)
        try:
            frames = p.session.branches_side_by_side()
        except ValueError as e:
            gr.Warning(str(e))
            return gr.update(), f"**{e}**"
        path = p.session.write_recording(p.dir / f"branches-{time.time_ns()}.mp4", list(frames), scale=4)
        return str(path), f"The two branches from the mark, {len(frames)} frames: the earlier one left, this one right."

    def save_mp4(self, request: gr.Request):
        p = self.player(request)
        s = p.session
        frames = s.played()
        if len(frames) < 2:
            gr.Warning("Nothing played yet.")
            return gr.update(), "**Nothing played yet.**"
        path = s.write_recording(p.dir / f"worldmodel-{time.strftime('%Y%m%d-%H%M%S')}.mp4", frames, scale=4)
        cut = " (the oldest frames were dropped: only the last ones are kept)" if s.truncated else ""
        return str(path), f"{len(frames)} frames at {s.world.fps:g} frames/s{cut}."

    # ----- the page -----------------------------------------------------------------------
    def blocks(self):
        with gr.Blocks(title="worldmodel demo", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
            gr.Markdown("# worldmodel: play a world\nHold keys with the page focused (the keymap is on the right), "
                        "move the mouse over the frame, or use the buttons below it. Pick a world in the gallery, "
                        "or upload any image to start the current world from it.")
            with gr.Row():
                with gr.Column(scale=3):
                    frame = gr.HTML(elem_id="wm-frame")
                    touch = []
                    with gr.Row():
                        for label, code in TOUCH_BUTTONS:
                            touch.append(gr.Button(label, elem_id=f"wm-key-{code}", elem_classes=["wm-key"],
                                                   size="sm", min_width=60))
                    with gr.Row():
                        pause = gr.Button("Pause / resume", size="sm")
                        reset = gr.Button("Reset", size="sm")
                        mark = gr.Button("Mark", size="sm", elem_id="wm-mark")
                        back = gr.Button("Back to mark", size="sm", elem_id="wm-back")
                        compare = gr.Button("Compare branches", size="sm", elem_id="wm-compare")
                        save = gr.Button("Save MP4", size="sm", elem_id="wm-save")
                    message = gr.Markdown(elem_id="wm-message")
                with gr.Column(scale=2):
                    gallery = gr.Gallery(self.gallery(), label="Worlds (click to play one)", columns=4,
                                         height=180, allow_preview=False, elem_id="wm-gallery")
                    upload = gr.File(label="Upload any image", type="filepath", elem_id="wm-upload", height=120)
                    keys = gr.Markdown(elem_id="wm-keys")
                    with gr.Accordion("Settings", open=True):
                        path = gr.Radio(["student (fast)", "teacher (slow)"], label="Path", elem_id="wm-path")
                        steps = gr.Slider(1, 16, step=1, label="Denoising steps", elem_id="wm-steps")
                        guidance = gr.Slider(0, 5, step=0.1, label="Guidance scale", elem_id="wm-guidance")
                        uncapped = gr.Checkbox(label="As fast as it generates (not the world's frame rate)")
            with gr.Row():
                branches = gr.Video(label="Branches from the mark, side by side", elem_id="wm-branches")
                download = gr.File(label="What was played (MP4)", elem_id="wm-download")
            controls = gr.Textbox(elem_id="wm-input", visible="hidden")

            world_outputs = [keys, path, steps, guidance, *touch]
            demo.load(self.play_loop, None, frame, concurrency_limit=None, show_progress="hidden")
            demo.load(self.widgets, None, world_outputs, show_progress="hidden")
            demo.unload(self.leave)
            controls.change(self.controls, controls, None, queue=False, show_progress="hidden")
            upload.upload(self.upload, upload, [message, upload])
            gallery.select(self.choose_world, None, [message, *world_outputs])
            path.input(self.set_path, path, [message, steps, guidance])
            # .change: a drag and a typed number both apply (Gradio itself refuses out-of-range numbers)
            for slider in (steps, guidance):
                slider.change(self.set_sampling, [steps, guidance], message, trigger_mode="always_last",
                              show_progress="hidden")
            uncapped.input(self.set_uncapped, uncapped, None)
            for button, what in ((pause, "pause"), (reset, "reset"), (mark, "mark"), (back, "back")):
                button.click(self._command(what), None, message)
            compare.click(self.compare, None, [branches, message])
            save.click(self.save_mp4, None, [download, message])
        return demo

    def _command(self, what):
        def handler(request: gr.Request):
            return self.command(what, request)
        return handler

    def launch(self, host: str = "127.0.0.1", port: int | None = 7860, **kwargs):
        """Serve the page. kwargs go to gradio's launch (e.g. prevent_thread_lock=True in tests)."""
        demo = self.blocks()
        codes = sorted({c for _, _, cs in BINDINGS for c in cs} | {c for _, c in TOUCH_BUTTONS} | set(MOUSE_CODES))
        demo.queue(default_concurrency_limit=self.players.limit)
        demo.launch(server_name=host, server_port=port, js=JS % {"codes": json.dumps(codes)},
                    css=CSS % {"px": FRAME_PX}, ssr_mode=False, quiet=True, show_error=True, **kwargs)
        return demo
