"""ansible.builtin's filters on lists and dicts (core.py's combine, flatten, subelements,
dict2items/items2dict, extract; mathstuff.py's set operations, math, rekey_on_member)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

from jinja2.filters import do_unique, pass_environment


class FilterError(ValueError):
    """A filter refused its input (reported with the task's file:line by the templar)."""


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def merge_hash(x: Mapping[str, Any], y: Mapping[str, Any], recursive: bool = True, list_merge: str = "replace") -> dict[str, Any]:
    if list_merge not in ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp"):
        raise FilterError("merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', "
                          "'prepend', 'append_rp' or 'prepend_rp'")
    if not isinstance(x, MutableMapping) or not isinstance(y, MutableMapping):
        raise FilterError(f"failed to combine variables, expected dicts but got a '{type(x).__name__}' "
                          f"and a '{type(y).__name__}'")
    if x == {} or x == y:
        return dict(y)
    if y == {}:
        return dict(x)
    out = dict(x)
    if not recursive and list_merge == "replace":
        out.update(y)
        return out
    for key, yv in y.items():
        if key not in out:
            out[key] = yv
            continue
        xv = out[key]
        if isinstance(xv, MutableMapping) and isinstance(yv, MutableMapping):
            out[key] = merge_hash(xv, yv, recursive, list_merge) if recursive else yv
        elif isinstance(xv, MutableSequence) and isinstance(yv, MutableSequence):
            out[key] = _merge_lists(xv, yv, list_merge)
        else:
            out[key] = yv
    return out


def _merge_lists(xv: MutableSequence[Any], yv: MutableSequence[Any], how: str) -> Any:
    if how == "replace":
        return yv
    if how == "append":
        return [*xv, *yv]
    if how == "prepend":
        return [*yv, *xv]
    if how == "append_rp":
        return [z for z in xv if z not in yv] + [*yv]
    if how == "prepend_rp":
        return [*yv] + [z for z in xv if z not in yv]
    return xv  # keep


def combine(*terms: Any, **kwargs: Any) -> Any:
    recursive = kwargs.pop("recursive", False)
    list_merge = kwargs.pop("list_merge", "replace")
    if kwargs:
        raise FilterError("'recursive' and 'list_merge' are the only valid keyword arguments")
    dicts = flatten(terms, levels=1)
    if not dicts:
        return {}
    if len(dicts) == 1:
        return dicts[0]
    it = reversed(dicts)
    result = next(it)
    for d in it:
        result = merge_hash(d, result, recursive, list_merge)
    return result


@pass_environment
def extract(environment: Any, item: Any, container: Any, morekeys: Any = None) -> Any:
    keys = [item] if morekeys is None else [item, *morekeys] if isinstance(morekeys, list) else [item, morekeys]
    value = container
    for key in keys:
        value = environment.getitem(value, key)
    return value


def flatten(mylist: Any, levels: Any = None, skip_nulls: bool = True) -> list[Any]:
    ret: list[Any] = []
    for element in mylist:
        if skip_nulls and element in (None, "None", "null"):
            continue
        if _is_sequence(element):
            if levels is None:
                ret.extend(flatten(element, skip_nulls=skip_nulls))
            elif levels >= 1:
                ret.extend(flatten(element, levels=int(levels) - 1, skip_nulls=skip_nulls))
            else:
                ret.append(element)
        else:
            ret.append(element)
    return ret


def subelements(obj: Any, subelements: Any, skip_missing: bool = False) -> list[tuple[Any, Any]]:
    if isinstance(obj, dict):
        elements = list(obj.values())
    elif isinstance(obj, list):
        elements = obj[:]
    else:
        raise FilterError("obj must be a list of dicts or a nested dict")
    if isinstance(subelements, list):
        path = subelements[:]
    elif isinstance(subelements, str):
        path = subelements.split(".")
    else:
        raise FilterError("subelements must be a list or a string")
    results: list[tuple[Any, Any]] = []
    for element in elements:
        values = element
        for key in path:
            try:
                values = values[key]
            except KeyError:
                if skip_missing:
                    values = []
                    break
                raise FilterError(f"could not find {key!r} key in iterated item {values!r}") from None
            except TypeError:
                raise FilterError(f"the key {key} should point to a dictionary, got '{values}'") from None
        if not isinstance(values, list):
            raise FilterError(f"the key {key!r} should point to a list, got {values!r}")
        results.extend((element, v) for v in values)
    return results


def dict2items(mydict: Any, key_name: str = "key", value_name: str = "value") -> list[dict[str, Any]]:
    if not isinstance(mydict, Mapping):
        raise FilterError(f"dict2items requires a dictionary, got {type(mydict)} instead.")
    return [{key_name: k, value_name: mydict[k]} for k in mydict]


def items2dict(mylist: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    if not _is_sequence(mylist):
        raise FilterError(f"items2dict requires a list, got {type(mylist)} instead.")
    try:
        return {item[key_name]: item[value_name] for item in mylist}
    except KeyError:
        raise FilterError(f"items2dict requires each dictionary in the list to contain the keys '{key_name}' "
                          f"and '{value_name}', got {mylist} instead.") from None
    except TypeError:
        raise FilterError(f"items2dict requires a list of dictionaries, got {mylist} instead.") from None


@pass_environment
def unique(environment: Any, a: Any, case_sensitive: Any = None, attribute: Any = None) -> list[Any]:
    try:
        return list(do_unique(environment, a, case_sensitive=bool(case_sensitive), attribute=attribute))
    except Exception:
        if case_sensitive is False or attribute:
            raise FilterError("Jinja2's unique filter failed and we cannot fall back to Ansible's version "
                              "as it does not support the parameters supplied.") from None
    out: list[Any] = []
    for x in a:
        if x not in out:
            out.append(x)
    return out


@pass_environment
def intersect(environment: Any, a: Any, b: Any) -> list[Any]:
    try:
        return list(set(a) & set(b))
    except TypeError:
        return unique(environment, [x for x in a if x in b], True)


@pass_environment
def difference(environment: Any, a: Any, b: Any) -> list[Any]:
    try:
        return list(set(a) - set(b))
    except TypeError:
        return unique(environment, [x for x in a if x not in b], True)


@pass_environment
def symmetric_difference(environment: Any, a: Any, b: Any) -> list[Any]:
    try:
        return list(set(a) ^ set(b))
    except TypeError:
        isect = intersect(environment, a, b)
        return [x for x in union(environment, a, b) if x not in isect]


@pass_environment
def union(environment: Any, a: Any, b: Any) -> list[Any]:
    try:
        return list(set(a) | set(b))
    except TypeError:
        return unique(environment, a + b, True)


def logarithm(x: Any, base: Any = None) -> float:
    import math

    try:
        if base == 10:
            return math.log10(x)
        return math.log(x) if base is None else math.log(x, base)
    except TypeError:
        raise FilterError("log() can only be used on numbers") from None


def power(x: Any, y: Any) -> float:
    import math

    try:
        return math.pow(x, y)
    except TypeError:
        raise FilterError("pow() can only be used on numbers") from None


def inversepower(x: Any, base: Any = 2) -> float:
    import math

    try:
        return math.sqrt(x) if base == 2 else math.pow(x, 1.0 / float(base))
    except (ValueError, TypeError):
        raise FilterError("root() can only be used on numbers") from None


def rekey_on_member(data: Any, key: Any, duplicates: str = "error") -> dict[Any, Any]:
    if duplicates not in ("error", "overwrite"):
        raise FilterError(f"duplicates parameter to rekey_on_member has unknown value {duplicates!r}")
    if isinstance(data, Mapping):
        items: Any = data.values()
    elif _is_sequence(data) or isinstance(data, (set, frozenset)):
        items = data
    else:
        raise FilterError("Type is not a valid list, set, or dict")
    out: dict[Any, Any] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise FilterError("List item is not a valid dict")
        if key not in item:
            raise FilterError(f"Key {key!r} was not found.")
        k = item[key]
        if out.get(k) and duplicates == "error":
            raise FilterError(f"Key {k!r} is not unique, cannot convert to dict.")
        out[k] = item
    return out
