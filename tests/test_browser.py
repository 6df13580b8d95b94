"""The browser tier: the real ComfyUI 0.3.75 and its real frontend (``comfyui-frontend-package``) in Debian's
headless Chromium, driven by Playwright for Python. Every workflow of ``workflows/`` is opened from the
template browser as a user opens it, must come up with no missing-node or missing-model dialog and no error
toast, with every node in view (not under the menus), is queued with the Run command (the frontend's own
graph-to-prompt conversion makes the prompt), must succeed, and leaves a screenshot.

Marker ``browser``. Chromium comes from ``apt-get install chromium`` (``.ci/run`` installs it); Playwright's
own browser download is never used. Where no Chromium is installed the tier is skipped with that reason.
Screenshots and a per-workflow summary (``results.json``) go to ``$STYLEGANEX_BROWSER_OUT`` or
``outputs/browser/``. With ``STYLEGANEX_UPDATE_THUMBNAILS=1`` the run also rewrites the template
thumbnails ``workflows/<name>.jpg`` from its outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

import harness  # noqa: E402 - tests/comfyui/harness.py (conftest.py puts its folder on sys.path)

ROOT = harness.ROOT
PACK = harness.PACK_NAME
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
OUT = Path(os.environ.get("STYLEGANEX_BROWSER_OUT", ROOT / "outputs" / "browser"))
VIEWPORT = {"width": 1280, "height": 720}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
THUMBNAIL_SIZE = 320  # px, square; the template browser shows them at about 224 px
THUMBNAIL_MAX_BYTES = 100_000
UPDATING_THUMBNAILS = os.environ.get("STYLEGANEX_UPDATE_THUMBNAILS") == "1"

# Widget values a user would lower for a quick CPU run (node type -> widget -> value).
FAST = {
    "StyleGANEXFaceCrop": {"padding": 64},
    "StyleGANEXOptimizeInversion": {"steps": 3},
    "StyleGANEXTranslateSketch": {"number": 2},
    "StyleGANEXVideoToonify": {"padding": 64, "chunk_size": 2},
    "StyleGANEXVideoEdit": {"padding": 64, "chunk_size": 2},
    "StyleGANEXEditSweep": {"frames": 3},
    # a few reduced steps: LPIPS on the session's stand-in VGG, pairs from the 8 px constant, no discriminator
    "StyleGANEXTrainVideoEdit": {"steps": 3, "lpips": "vgg",
                                 "options": '{"pair_pool": 2, "pair_feature": 8, "adv_lambda": 0}'},
}

APP_READY = "() => window.comfyAPI?.app?.app?.graph && window.LiteGraph?.registered_node_types?.StyleGANEXLoader"

# Recorders installed once in the page: the frontend's missing-node / missing-model reports and every
# prompt the frontend posts (with the server's answer).
INSTALL_HOOKS = """() => {
  const app = window.comfyAPI.app.app, api = window.comfyAPI.api.api;
  window.__sgx = {missingNodes: [], missingModels: [], queued: []};
  const nodes = app.showMissingNodesError.bind(app), models = app.showMissingModelsError.bind(app);
  app.showMissingNodesError = (...a) => {
    window.__sgx.missingNodes.push(JSON.stringify(a[0]).slice(0, 2000)); return nodes(...a);
  };
  app.showMissingModelsError = (...a) => {
    window.__sgx.missingModels.push(JSON.stringify(a[0]).slice(0, 2000)); return models(...a);
  };
  const queue = api.queuePrompt.bind(api);
  api.queuePrompt = async (number, data, ...rest) => {
    const entry = {prompt: data.output, answer: null, error: null};
    window.__sgx.queued.push(entry);
    try { entry.answer = await queue(number, data, ...rest); return entry.answer; }
    catch (e) { entry.error = String(e && (e.message || e)); throw e; }
  };
}"""

# Dialogs (PrimeVue) and toasts on screen, as text.
SCREEN_MESSAGES = """() => {
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {
    dialogs: Array.from(document.querySelectorAll('.p-dialog')).filter(shown).map(d => d.innerText.slice(0, 600)),
    toasts: Array.from(document.querySelectorAll('.p-toast-message')).filter(shown)
      .map(t => ({cls: t.className, text: t.innerText.slice(0, 600)})),
  };
}"""

# Every node's box on screen, and what covers it: points on a grid over the node must hit the graph canvas;
# in the body (not on the title bar) a DOM widget may be hit too (the note's text box, a video preview).
NODES_IN_VIEW = """() => {
  const app = window.comfyAPI.app.app, canvas = app.canvas.canvas, ds = app.canvas.ds;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT;
  const out = {scale: ds.scale, offset: [ds.offset[0], ds.offset[1]], window: [innerWidth, innerHeight], nodes: []};
  for (const n of app.graph.nodes) {
    const [x0, y0] = ds.convertOffsetToCanvas([n.pos[0], n.pos[1] - title]);
    const [x1, y1] = ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
    const covered = [];
    for (let i = 0; i <= 4; i++) for (let j = 0; j <= 4; j++) {
      const px = x0 + 3 + (x1 - x0 - 6) * i / 4, py = y0 + 3 + (y1 - y0 - 6) * j / 4;
      const e = document.elementFromPoint(px, py);
      if (e === canvas) continue;
      if (j > 0 && e && e.closest('.dom-widget, .comfy-multiline-input, .lg-node-widgets, textarea, video')) continue;
      const what = e ? (e.tagName + '.' + String(e.className)).slice(0, 80) : 'outside';
      covered.push([Math.round(px), Math.round(py), what]);
    }
    out.nodes.push({id: n.id, type: n.type, box: [x0, y0, x1, y1].map(Math.round), covered});
  }
  return out;
}"""

# The template card whose title is the workflow's name shows a picture that has loaded.
CARD_PICTURE = """(name) => {
  const title = Array.from(document.querySelectorAll('.p-dialog *'))
    .find(e => e.children.length === 0 && e.textContent.trim() === name);
  for (let e = title; e; e = e.parentElement) {
    const img = e.querySelector('img');
    if (img) return img.complete && img.naturalWidth > 0;
  }
  return false;
}"""

SET_WIDGETS = """(values) => {
  const app = window.comfyAPI.app.app, done = [];
  for (const n of app.graph.nodes) {
    const want = values[n.type];
    if (!want) continue;
    for (const [name, value] of Object.entries(want)) {
      const w = (n.widgets || []).find(w => w.name === name);
      if (!w) throw new Error(`${n.type} has no widget ${name}`);
      w.value = value;
      if (w.callback) w.callback(value, app.canvas, n);
      done.push(`${n.type}.${name}=${value}`);
    }
  }
  app.graph.setDirtyCanvas(true, true);
  return done;
}"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("browser tier skipped: Debian's chromium is not installed (apt-get install chromium; "
                    ".ci/run installs it where apt-get can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        harness.unavailable(f"playwright is not installed (it is in the test extra): {e}")
    server = harness.start_session(tmp_path_factory.mktemp("browser-base"),
                                   tmp_path_factory.mktemp("browser-models"), vgg=True)
    # a returning user: no first-run template dialog in front of everything
    status, body = server.post("/settings/Comfy.TutorialCompleted", True)
    assert status == 200, (status, body)
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        t0 = time.monotonic()
        page.goto(server.url)
        page.wait_for_function(APP_READY, timeout=120_000)
        page.evaluate(INSTALL_HOOKS)
        harness.log(f"frontend ready in {time.monotonic() - t0:.1f} s ({chromium})")
        yield {"server": server, "page": page, "console": console, "results": results}
    finally:
        (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        for name, r in results.items():
            harness.log(f"browser tier: {name}: {r.get('status')} in {r.get('run_s', float('nan')):.1f} s "
                        f"(load {r.get('load_s', float('nan')):.1f} s)")
        browser.close()
        pw.stop()
        server.stop()


def _no_messages(page, when: str) -> None:
    seen = page.evaluate(SCREEN_MESSAGES)
    hooks = page.evaluate("() => window.__sgx")
    assert not hooks["missingNodes"], f"{when}: missing-node report {hooks['missingNodes']}"
    assert not hooks["missingModels"], f"{when}: missing-model report {hooks['missingModels']}"
    assert not seen["dialogs"], f"{when}: dialog on screen: {seen['dialogs']}"
    bad = [t for t in seen["toasts"] if "error" in t["cls"] or "warn" in t["cls"]]
    assert not bad, f"{when}: toast {bad}"


def _open_from_template_browser(page, server_url: str, name: str) -> None:
    """Workflow -> Browse Templates -> the pack's category -> the card, as a user clicks them."""
    page.evaluate("() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    dialog = page.locator(".p-dialog")
    dialog.get_by_text(PACK, exact=True).first.click()
    card_title = dialog.get_by_text(name, exact=True).first
    card_title.wait_for(timeout=30_000)
    if not UPDATING_THUMBNAILS:  # the card shows the picture "<name>.jpg" beside the workflow file
        page.wait_for_function(CARD_PICTURE, arg=name, timeout=30_000)
        jpg = urllib.parse.quote(f"/api/workflow_templates/{PACK}/{name}.jpg")
        with urllib.request.urlopen(server_url + jpg, timeout=30) as r:
            assert r.status == 200 and r.headers.get("Content-Type") == "image/jpeg", (jpg, r.status)
    card_title.click()
    page.wait_for_function(
        """(name) => { const wf = window.comfyAPI.app.app.extensionManager.workflow.activeWorkflow;
                       return wf && wf.filename === name && window.comfyAPI.app.app.graph.nodes.length > 0; }""",
        arg=name, timeout=30_000)
    page.wait_for_selector(".p-dialog", state="detached", timeout=30_000)
    page.wait_for_timeout(1500)  # dialogs and toasts of the load come up within this


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_from_the_frontend(session, path):
    page, server, results = session["page"], session["server"], session["results"]
    name = path.stem
    workflow = json.loads(path.read_text())
    result = results.setdefault(name, {"status": "started"})
    # each workflow opens in a freshly loaded page, as after a start (no notices of earlier runs on screen)
    page.reload()
    page.wait_for_function(APP_READY, timeout=120_000)
    page.evaluate(INSTALL_HOOKS)
    t0 = time.monotonic()
    _open_from_template_browser(page, server.url, name)
    result["load_s"] = round(time.monotonic() - t0, 2)
    _no_messages(page, f"{name} loaded")

    # the stored view: every node (and the note) on screen, under no bar or panel, at a readable zoom
    view = page.evaluate(NODES_IN_VIEW)
    assert view["scale"] == pytest.approx(workflow["extra"]["ds"]["scale"]), view
    covered = {f"{n['id']} {n['type']}": n["covered"] for n in view["nodes"] if n["covered"]}
    assert not covered, f"{name}: nodes covered or off screen at {view['window']}: {json.dumps(covered)[:3000]}"
    page.screenshot(path=str(OUT / f"{name} - opened.png"))

    changed = page.evaluate(SET_WIDGETS, FAST)
    before = len(page.evaluate("() => window.__sgx.queued"))
    t1 = time.monotonic()
    page.evaluate("() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.QueuePrompt')")
    page.wait_for_function("(n) => window.__sgx.queued.length > n && (window.__sgx.queued[n].answer || "
                           "window.__sgx.queued[n].error)", arg=before, timeout=60_000)
    queued = page.evaluate("(n) => window.__sgx.queued[n]", before)
    assert queued["error"] is None, f"{name}: the server refused the frontend's prompt: {queued['error']}"
    prompt_id = queued["answer"]["prompt_id"]
    entry = server.wait(prompt_id, timeout=600)
    result["run_s"] = round(time.monotonic() - t1, 2)
    result["fast_settings"] = changed
    result["status"] = entry["status"]["status_str"]
    assert entry["status"]["status_str"] == "success", harness.error_text(entry) + "\n" + server.log_tail()
    page.wait_for_timeout(2000)  # the output previews are drawn
    _no_messages(page, f"{name} after the run")
    page.screenshot(path=str(OUT / f"{name}.png"))
    result["screenshot"] = str(OUT / f"{name}.png")

    prompt = queued["prompt"]
    saved = _check_outputs(server, prompt, entry, name)
    result["outputs"] = saved
    if UPDATING_THUMBNAILS:
        _write_thumbnail(server, prompt, entry, path.with_suffix(".jpg"))


# ---- what the runs must produce ------------------------------------------------------------------
def _video_info(path: Path) -> tuple[int, int, int]:
    import av

    with av.open(str(path)) as c:
        frames = [f for f in c.decode(video=0)]
        return frames[0].width, frames[0].height, len(frames)


def _crop_size(image_path: Path, padding: int) -> tuple[int, int]:
    """(w, h) of the StyleGANEX crop the pipeline makes of this image (computed with the core)."""
    from styleganex.faces import crop_record, detect_face
    from styleganex.io.images import load_image

    frame = load_image(image_path)
    rec = crop_record(tuple(frame.shape[-2:]), detect_face(frame), padding)
    h, w = rec.crop_size
    return w, h


def _first_frame_crop(video: Path, padding: int) -> tuple[int, int, tuple[int, int]]:
    import av
    import torch

    from styleganex.faces import crop_record, detect_face

    with av.open(str(video)) as c:
        frame = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    x = torch.from_numpy(frame).permute(2, 0, 1).float() / 255
    rec = crop_record(tuple(x.shape[-2:]), detect_face(x), padding)
    return rec.crop_size[1], rec.crop_size[0], (x.shape[-1], x.shape[-2])


def _upstream(prompt: dict, nid: str) -> str | None:
    for value in prompt[nid]["inputs"].values():
        if isinstance(value, list) and len(value) == 2:
            return str(value[0])
    return None


def _check_outputs(server, prompt: dict, entry: dict, name: str) -> dict:
    """The saved files have the sizes the pipeline must give (computed independently with the core)."""
    from PIL import Image

    outs = harness.outputs_by_node(entry)
    types = {nid: node["class_type"] for nid, node in prompt.items()}
    input_dir = server.base / "input"
    pad = FAST["StyleGANEXFaceCrop"]["padding"]
    saved = {nid: items for nid, items in outs.items() if types.get(nid) in ("SaveImage", "SaveVideo")}
    assert saved, f"{name} saved nothing: {entry.get('outputs')}"
    report = {}
    for nid, items in saved.items():
        src = _upstream(prompt, nid)
        kind = prompt[src]["class_type"] if src else None
        if types[nid] == "SaveVideo":
            width, height, frames = _video_info(harness.output_path(server, items[0]))
            vpad = FAST["StyleGANEXVideoToonify"]["padding"]
            cw, ch, frame_size = _first_frame_crop(input_dir / "clip.mp4", vpad)
            assert frames == 3
            video_node = next(k for k, v in prompt.items() if v["class_type"].startswith("StyleGANEXVideo"))
            if prompt[video_node]["inputs"].get("paste_back"):
                assert (width, height) == frame_size
            else:
                assert (width, height) == (4 * cw, 4 * ch)
            report[nid] = f"video {width}x{height}, {frames} frames"
            continue
        sizes = [harness.image_size(server, item) for item in items]
        if kind == "StyleGANEXDecode" and "crop_info" in prompt[src]["inputs"]:
            photo = next(n["inputs"]["image"] for n in prompt.values() if n["class_type"] == "LoadImage")
            with Image.open(input_dir / photo) as im:
                assert sizes == [im.size]  # every face pasted back into the photo
        elif kind == "StyleGANEXSuperResolve":
            cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            low = (round(cw * 0.125), round(ch * 0.125))
            factor = prompt[src]["inputs"]["factor"]
            assert sizes == [(factor * low[0], factor * low[1])]
        elif kind == "StyleGANEXEditSweep":
            cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            assert sizes == [(4 * cw, 4 * ch)] * FAST["StyleGANEXEditSweep"]["frames"]
        elif kind == "StyleGANEXTranslateSketch":
            number = prompt[src]["inputs"]["number"]
            if "mask" in prompt[src]["inputs"]:
                cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            else:
                cw, ch = 256, 256  # sketch.png
            assert sizes == [(4 * cw, 4 * ch)] * number
        else:
            raise AssertionError(f"no expectation for {kind} -> {types[nid]}")
        report[nid] = ", ".join(f"{w}x{h}" for w, h in sizes)
    return report


def _write_thumbnail(server, prompt: dict, entry: dict, dest: Path) -> None:
    """A small square JPEG of the run's first saved picture (or the first frame of its video)."""
    import av
    from PIL import Image

    outs = harness.outputs_by_node(entry)
    saved = sorted((nid for nid in outs if prompt.get(nid, {}).get("class_type") in ("SaveImage", "SaveVideo")),
                   key=int)
    item = outs[saved[0]][0]
    path = harness.output_path(server, item)
    if prompt[saved[0]]["class_type"] == "SaveVideo":
        with av.open(str(path)) as c:
            image = next(iter(c.decode(video=0))).to_image()
    else:
        image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    thumb = image.crop((left, top, left + side, top + side)).resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.LANCZOS)
    for quality in (85, 75, 60, 45):
        thumb.save(dest, "JPEG", quality=quality, optimize=True)
        if dest.stat().st_size < THUMBNAIL_MAX_BYTES:
            break
    harness.log(f"thumbnail {dest.name}: {dest.stat().st_size} bytes")
