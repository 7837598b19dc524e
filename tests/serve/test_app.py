"""The explorer's web app through Starlette's TestClient: uploads, limits, analyses, errors and a live session."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from layerscope.io.video import write_video
from layerscope.serve import Explorer, Limits, create_app

from .helpers import jpeg, model, png, stripes

LIVE = "ws://127.0.0.1:8000/api/live"


@pytest.fixture(scope="module")
def explorer():
    return Explorer(model(), samples=False, limits=Limits(max_bytes=200_000, max_pixels=300 * 300, max_video_frames=5))


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def upload(client, data: bytes, kind: str = "image/png", name: str = "photo.png", **headers):
    return client.post("/api/upload", content=data, headers={"Content-Type": kind, "X-Filename": name, **headers})


def test_page_has_its_policy_in_the_header_and_offers_the_layers(client):
    response = client.get("/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'sha256-" in policy
    assert '<option value="1">conv2</option>' in response.text and response.headers["x-frame-options"] == "DENY"


def test_upload_then_analyze_two_layers(client):
    item = upload(client, png(stripes(True)), name="..%2F..%2Fetc%2Fpasswd").json()["items"][0]
    assert item["name"] == "passwd" and item["thumb"].startswith("data:image/png;base64,")
    first = client.get("/api/analyze", params={"item": item["id"], "layer": 0, "channels": 4}).json()
    second = client.get("/api/analyze", params={"item": item["id"], "layer": 1, "channels": 0}).json()
    assert first["data"]["layers"][0]["name"] == "conv1" and first["data"]["layers"][0]["channels"] == [0, 1, 2, 3]
    assert second["data"]["layers"][0]["name"] == "conv2" and second["data"]["layers"][0]["total"] == 6
    assert 'class="ls-grid"' in second["html"] and 'class="ls-preds"' in second["html"] and "passwd" in second["html"]


@pytest.mark.parametrize("data, kind, status, message", [
    (b"<html>hi</html>", "text/html", 415, "Only images and videos are accepted, not 'text/html'"),
    (b"#!/bin/sh\nrm -rf /\n", "application/octet-stream", 415, "neither an image"),
    (b"\x89PNG\r\n\x1a\n" + b"broken" * 10, "image/png", 422, "corrupt or truncated PNG"),
    (png(np.zeros((400, 400, 3))), "image/png", 422, "over the limit of 90,000"),
    (b"\x89PNG\r\n\x1a\n" + bytes(300_000), "image/png", 413, "over the limit of 200,000 bytes"),
])
def test_refused_uploads_say_why(client, data, kind, status, message):
    response = upload(client, data, kind)
    assert response.status_code == status
    assert message in response.json()["error"] and 'role="alert"' in response.json()["html"]


def test_a_video_becomes_its_sampled_frames(client, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", [np.full((32, 32, 3), 16 * i, np.uint8) for i in range(16)], fps=4)
    items = upload(client, clip.read_bytes(), "video/mp4", "clip.mp4").json()["items"]
    assert [i["time"] for i in items] == [0.0, 1.0, 2.0, 3.0] and items[1]["name"] == "clip.mp4 @ 1.0s"
    answer = client.get("/api/animation", params={"items": ",".join(i["id"] for i in items), "layer": 1}).json()
    assert answer["layer"] == "conv2" and answer["frames"] == 4 and answer["src"].startswith("data:image/webp;base64,")
    with Image.open(io.BytesIO(base64.b64decode(answer["src"].split(",", 1)[1]))) as moving:
        assert moving.n_frames == 4


def test_a_model_failing_on_an_input_gives_a_clear_page(client):
    item = upload(client, png(np.full((32, 32, 3), 255))).json()["items"][0]
    response = client.get("/api/analyze", params={"item": item["id"], "layer": 0})
    assert response.status_code == 422
    body = response.json()
    assert "cannot handle an all-white picture" in body["error"]
    assert "The model failed on this input" in body["html"] and "all-white" in body["html"]


@pytest.mark.parametrize("params, status, message", [
    ({"item": "nope", "layer": 0}, 404, "no longer in the explorer's memory"),
    ({"layer": "7"}, 400, "layer must be a number from 0 to 1"),
    ({"channels": "-2"}, 400, "channels must be a number from 0"),
])
def test_bad_analysis_requests(client, params, status, message):
    item = upload(client, png(stripes(False))).json()["items"][0]
    response = client.get("/api/analyze", params={"item": item["id"], **params})
    assert response.status_code == status and message in response.json()["error"]


def test_cross_site_requests_and_foreign_hosts_are_refused(client, explorer):
    assert upload(client, png(stripes(True)), Origin="http://evil.example").status_code == 403
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
    with pytest.raises(Exception):
        with client.websocket_connect(LIVE, headers={"Origin": "http://evil.example"}) as socket:
            socket.receive_text()


def test_live_session_answers_each_frame_and_follows_the_layer(client):
    with client.websocket_connect(LIVE, headers={"Origin": "http://127.0.0.1:8000"}) as socket:
        socket.send_text(json.dumps({"layer": 1, "channels": 4}))
        answers = []
        for vertical in (True, False, True):
            socket.send_bytes(jpeg(stripes(vertical)))
            answers.append(json.loads(socket.receive_text()))
        socket.send_text(json.dumps({"layer": 0}))
        socket.send_bytes(jpeg(stripes(False)))
        last = json.loads(socket.receive_text())
    assert [a["layer"] for a in answers] == ["conv2"] * 3 and last["layer"] == "conv1"
    assert [a["frame"] for a in answers] == [1, 2, 3] and all(a["dropped"] == 0 for a in answers)
    assert answers[0]["grid"] == answers[2]["grid"] != answers[1]["grid"]  # the maps follow the frames
    assert len(answers[0]["channels"]) == 4 and len(answers[0]["predictions"]) == 3


def test_live_frames_that_pile_up_are_dropped_not_queued(client):
    with client.websocket_connect(LIVE) as socket:
        for _ in range(6):
            socket.send_bytes(jpeg(stripes(True)))
        seen = json.loads(socket.receive_text())
        while seen["frame"] + seen["dropped"] < 6:  # every frame is either answered or dropped
            seen = json.loads(socket.receive_text())
    assert seen["frame"] + seen["dropped"] == 6 and seen["frame"] <= 6


def test_a_bad_live_frame_is_answered_with_an_error(client):
    with client.websocket_connect(LIVE) as socket:
        socket.send_bytes(b"not a picture")
        assert "not a readable image" in json.loads(socket.receive_text())["error"]


@pytest.mark.parametrize("text, says", [
    ("not json", "must be JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"layer": "conv1"}', 'live setting "layer" must be a whole number >= 0, got "conv1"'),
    ('{"channels": 0}', 'live setting "channels" must be a whole number >= 1, got 0'),
    ('{"layer": true}', 'must be a whole number'),
    ('{"zoom": 2}', "unknown live setting 'zoom'; accepted: layer, channels"),
])
def test_malformed_live_settings_get_an_error_reply_and_change_nothing(client, text, says):
    with client.websocket_connect(LIVE) as socket:
        socket.send_text(json.dumps({"layer": 1, "channels": 4}))
        socket.send_text(text)
        reply = json.loads(socket.receive_text())
        assert says in reply["error"] and reply["settings"] == {"layer": 1, "channels": 4}
        socket.send_bytes(jpeg(stripes(True)))  # the session goes on with the settings it had
        answer = json.loads(socket.receive_text())
    assert answer["layer"] == "conv2" and len(answer["channels"]) == 4


def test_two_frames_in_flight_are_answered_in_order_none_dropped(client):
    """As the page streams: the next frame waits while one is in the model; each reply is its own frame's."""
    with client.websocket_connect(LIVE) as socket:
        socket.send_text(json.dumps({"layer": 0, "channels": 4}))
        socket.send_bytes(jpeg(stripes(True)))
        socket.send_bytes(jpeg(stripes(False)))
        answers = [json.loads(socket.receive_text())]
        for vertical in (True, False):
            socket.send_bytes(jpeg(stripes(vertical)))
            answers.append(json.loads(socket.receive_text()))
        answers.append(json.loads(socket.receive_text()))
    assert [a["frame"] for a in answers] == [1, 2, 3, 4] and all(a["dropped"] == 0 for a in answers)
    assert answers[0]["grid"] == answers[2]["grid"] != answers[1]["grid"] == answers[3]["grid"]
