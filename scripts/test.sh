#!/usr/bin/env bash
# Set up and run hvprov's tests: a venv with the test extras, Debian's OpenSSH server for the
# real-sshd transport tests (installed with apt-get when running as root), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v tmux >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "== installing tmux (for the real-terminal console test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends tmux >/dev/null
fi
if [[ ! -x /usr/sbin/sshd ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "== installing openssh-server (for the real-sshd tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
  else
    echo "!! /usr/sbin/sshd missing and not root: the real-sshd tests will be skipped" >&2
  fi
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
# The ansible-core oracle for tests/ansible_diff (its own venv: never one of hvprov's dependencies).
.venv/bin/python -c 'import sys; sys.path.insert(0, "tests"); from ansible_diff import oracle; oracle.ensure_venv()'
# ansible.windows / community.windows from the `ansible` wheel, for the module contract (~1 s, cached).
.venv/bin/python -c 'import sys; sys.path.insert(0, "tests"); from ansible_diff import wincollections; wincollections.ensure()'
exec .venv/bin/python -m pytest "$@"
