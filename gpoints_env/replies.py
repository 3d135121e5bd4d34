"""Reading raw model replies (kept for its public names): the functions live in :mod:`sftrl_core.replies`,
shared with V-IRL.

>>> find_key_value(strip_thinking("<think>hm</think> formula: 8*3"), key_pattern("formula"))
(True, '8*3', False)
"""

from __future__ import annotations

from sftrl_core.replies import find_json_object, find_key_value, key_pattern, strip_code_fence, strip_thinking

__all__ = ["strip_thinking", "strip_code_fence", "key_pattern", "find_key_value", "find_json_object"]
