"""ComfyUI workflow formats.

* UI format: what the editor saves and loads: `nodes[]` with positional `widgets_values`,
  `links[]` as `[id, from_node, from_slot, to_node, to_slot, type]`, `version`.
* API format: what `POST /prompt` takes: `{id: {"class_type", "inputs": {name: value | [src, slot]}}}`.

The server never converts UI to API; `ui_to_api` does it with the node definitions from
`GET /object_info` (which inputs are widgets, and in which order).
"""

from __future__ import annotations

from ..errors import InputError

# UI-only nodes that never reach the server.
UI_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def _is_widget(spec) -> bool:
    """A widget input is a combo (list of values) or a basic value type."""
    kind = spec[0] if isinstance(spec, (list, tuple)) else spec
    return isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def _has_control_widget(name: str, spec) -> bool:
    """The editor adds a 'control_after_generate' value after seed-like INT widgets."""
    opts = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
    kind = spec[0] if isinstance(spec, (list, tuple)) else spec
    return kind == "INT" and (name in ("seed", "noise_seed") or bool(opts.get("control_after_generate")))


def widget_names(info: dict) -> list[tuple[str, bool]]:
    """(name, followed_by_control_value) for every widget input, in the editor's order."""
    out = []
    for section in ("required", "optional"):
        for name, spec in (info.get("input", {}).get(section) or {}).items():
            if _is_widget(spec):
                out.append((name, _has_control_widget(name, spec)))
    return out


def check_ui_graph(ui) -> None:
    """One line for a UI graph that is not one: nodes without an id or a type, links that are not
    [id, from_node, from_slot, to_node, to_slot, type], inputs linked to a link that is not there."""
    if not isinstance(ui, dict) or not isinstance(ui.get("nodes"), list) or not isinstance(ui.get("links"), list):
        raise InputError("not a UI-format workflow (expected 'nodes' and 'links' lists); API-format files can be submitted as they are")
    ids = set()
    for k, node in enumerate(ui["nodes"]):
        if not isinstance(node, dict) or not isinstance(node.get("id"), int) or not isinstance(node.get("type"), str) \
                or not node["type"]:
            raise InputError(f"UI workflow node #{k} has no id or no type; expected {{'id': int, 'type': 'NodeClass', ...}}: "
                             "save the workflow again from ComfyUI")
        ids.add(node["id"])
    link_ids = set()
    for link in ui["links"]:
        if not (isinstance(link, list) and len(link) >= 5 and all(isinstance(x, int) for x in link[:5])):
            raise InputError(f"UI workflow link {str(link)[:60]} is not [id, from_node, from_slot, to_node, to_slot, type]; "
                             "save the workflow again from ComfyUI")
        if link[1] not in ids or link[3] not in ids:
            raise InputError(f"UI workflow link {link[0]} joins node {link[1]} to node {link[3]}, and one of them is not in the "
                             "graph; save the workflow again from ComfyUI")
        link_ids.add(link[0])
    for node in ui["nodes"]:
        for field, kind in (("inputs", list), ("outputs", list), ("widgets_values", (list, dict))):
            if node.get(field) is not None and not isinstance(node[field], kind):
                raise InputError(f"UI workflow node {node['id']} has '{field}' of type {type(node[field]).__name__}; "
                                 "save the workflow again from ComfyUI")
        for slot in node.get("inputs") or []:
            if not isinstance(slot, dict) or not isinstance(slot.get("name"), str):
                raise InputError(f"UI workflow node {node['id']} has an input without a name; save the workflow again")
            if slot.get("link") is not None and slot["link"] not in link_ids:
                raise InputError(f"UI workflow node {node['id']} input '{slot['name']}' uses link {slot['link']}, which is not "
                                 "in the graph (a dangling link); reconnect it and save the workflow again")


def ui_to_api(ui: dict, object_info: dict) -> dict:
    """Convert an editor graph to the API format, using the server's node definitions."""
    check_ui_graph(ui)
    links = {link[0]: link for link in ui["links"]}
    api: dict = {}
    for node in ui["nodes"]:
        ntype = node["type"]
        if ntype in UI_ONLY or node.get("mode", 0) in (2, 4):  # muted / bypassed
            continue
        if ntype not in object_info:
            raise InputError(f"node {node['id']} is a '{ntype}', which this server does not have; install the pack that provides it")
        info = object_info[ntype]
        inputs: dict = {}
        values = node.get("widgets_values") or []
        values = list(values.values()) if isinstance(values, dict) else list(values)  # newer frontends may save a dict
        pos = 0
        for name, control in widget_names(info):
            if pos < len(values):
                inputs[name] = values[pos]
            pos += 2 if control else 1
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            link = links[slot["link"]]
            inputs[slot["name"]] = [str(link[1]), link[2]]
        api[str(node["id"])] = {"class_type": ntype, "inputs": inputs, "_meta": {"title": node.get("title", ntype)}}
    return api


def api_to_ui(api: dict, object_info: dict, layout: dict | None = None) -> dict:
    """Build an editor graph from an API workflow (used to write the bundled UI twins)."""
    layout = layout or {}
    nodes, links = [], []
    link_id = 0
    out_links: dict[tuple[str, int], list[int]] = {}
    pending = []
    for nid, node in api.items():
        info = object_info[node["class_type"]]
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                link_id += 1
                src, slot = value
                src_type = object_info[api[src]["class_type"]]["output"][slot]
                links.append([link_id, int(src), slot, int(nid), None, src_type])
                out_links.setdefault((src, slot), []).append(link_id)
                pending.append((link_id, nid, name))
    link_by_target = {(nid, name): lid for lid, nid, name in pending}
    for order, (nid, node) in enumerate(api.items()):
        info = object_info[node["class_type"]]
        ui_inputs, widgets = [], []
        all_inputs = {**(info["input"].get("required") or {}), **(info["input"].get("optional") or {})}
        for name, spec in all_inputs.items():
            lid = link_by_target.get((nid, name))
            if _is_widget(spec):
                value = node["inputs"].get(name)
                if value is None or isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    value = _default(spec)
                widgets.append(value)
                if _has_control_widget(name, spec):
                    widgets.append("fixed")
                if lid is not None:
                    kind = spec[0] if not isinstance(spec[0], list) else "COMBO"
                    ui_inputs.append({"name": name, "type": kind, "link": lid, "widget": {"name": name}})
            else:
                ui_inputs.append({"name": name, "type": spec[0], "link": lid})
        for slot_index, inp in enumerate(ui_inputs):
            if inp["link"] is not None:
                for link in links:
                    if link[0] == inp["link"]:
                        link[4] = slot_index
        outputs = [
            {"name": n, "type": t, "links": out_links.get((nid, i), []), "slot_index": i}
            for i, (n, t) in enumerate(zip(info.get("output_name", info["output"]), info["output"]))
        ]
        x, y, w, h = layout.get(nid, (60 + 360 * order, 80, 320, 160))
        nodes.append({
            "id": int(nid), "type": node["class_type"], "pos": [x, y], "size": [w, h], "flags": {}, "order": order,
            "mode": 0, "inputs": ui_inputs, "outputs": outputs,
            "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets,
            **({"title": node["_meta"]["title"]} if node.get("_meta", {}).get("title") else {}),
        })
    return {"last_node_id": max(int(n) for n in api), "last_link_id": link_id, "nodes": nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 0.4}


def _default(spec):
    kind = spec[0]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):
        return opts.get("default", kind[0] if kind else "")
    return opts.get("default", {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(kind))


def set_inputs(api: dict, assignments: list[str]) -> dict:
    """Apply `NODE_ID.input=value` overrides (values parsed as JSON when they parse, else strings)."""
    import json

    for item in assignments:
        target, sep, raw = item.partition("=")
        nid, dot, name = target.partition(".")
        if not sep or not dot or not name:
            raise InputError(f"--set must be NODE_ID.input=value, found '{item}'")
        if nid not in api:
            raise InputError(f"--set names node '{nid}', which the workflow does not have (nodes: {', '.join(api)})")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        api[nid]["inputs"][name] = value
    return api
