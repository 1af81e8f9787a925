"""A minimal client for OpenAI-compatible chat-completions servers (vLLM, llama.cpp, TGI, ...).

Used by the language-model steps (the reference TTM's prompt derivation, the SA-V-128
captioner), so that any local server can stand in for a hosted API. Standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ttm_bench.errors import TTMBenchError


def chat_completion(base_url: str, body: dict[str, Any], *, api_key: str | None = None,
                    timeout: float = 120.0, service: str = "LLM",
                    url_option: str = "--llm-url", model_option: str = "--llm-model") -> str:
    """POST `body` to `{base_url}/chat/completions`; return `choices[0].message.content`.

    Every failure (unreachable server, HTTP error, non-JSON or malformed answer) raises
    `TTMBenchError` naming the URL; `service` and the option names word the message for the caller.
    """
    url = f"{base_url.rstrip('/')}/chat/completions"
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode("utf-8"), headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise TTMBenchError(f"{service} server {url} answered HTTP {exc.code}: {detail}; check "
                            f"{model_option} {body.get('model')!r} and the server's log") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TTMBenchError(f"cannot reach the {service} server at {url} ({exc}); start an "
                            f"OpenAI-compatible server there or pass {url_option}") from exc
    except json.JSONDecodeError as exc:
        raise TTMBenchError(f"{service} server {url} did not answer JSON; is it an "
                            "OpenAI-compatible chat-completions endpoint?") from exc
    try:
        return str(reply["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError) as exc:
        raise TTMBenchError(f"{service} server {url} answered without "
                            f"choices[0].message.content: {str(reply)[:300]}") from exc
