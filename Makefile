# The two commands: `make run` (a working call center) and `make test` (the whole suite).
# Both build what they need themselves; nothing is installed by hand.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# `make run` uses the machine's own python3 (CentOS 7's 3.6 included).
PYTHON ?= python3
# The suite runs on CentOS 7's Python (pyenv's 3.6.15) and on the newest Python pyenv has.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PY36 ?= $(PYENV_ROOT)/versions/3.6.15/bin/python3.6
PYNEW ?= $(shell ls -d $(PYENV_ROOT)/versions/3.* 2>/dev/null | sort -V | tail -n 1)/bin/python3
PORT ?= 5678

VENV_DEPS := scripts/mkvenv.py setup.cfg pyproject.toml requirements/centos7.txt
# The package is reinstalled (not editable) whenever it changes, so what runs is what ships.
APP_SOURCES := $(shell find app -name '*.py' -o -path 'app/callcenter/web/static/*') setup.cfg pyproject.toml
REINSTALL = $(dir $<)bin/pip install --quiet --no-deps --force-reinstall . 2>&1 | { grep -v -i warn || true; }
PYTEST_ARGS ?=

.PHONY: help run test test-prepare test-py36 test-new test-root lint deploy-check vagrant-vm-check images images-check bench bench-quick clean

help:
	@echo "make run    - start a call center server on 127.0.0.1:$(PORT) and a client attached to it"
	@echo "make test   - the whole suite: Python 3.6 + Twisted 22.4, newest Python + Twisted, lint, deployment"
	@echo "make images - build localhost/callcenter-server and -client with podman (as root)"
	@echo "make bench  - benchmarks, about 11 minutes (make bench-quick: about 3); results in bench/results/"

.venv/.ready: $(VENV_DEPS)
	@$(PYTHON) scripts/mkvenv.py .venv
	@touch $@

.venv/.installed: .venv/.ready $(APP_SOURCES)
	@$(REINSTALL)
	@touch $@

run: .venv/.installed
	@scripts/run-local .venv $(PORT)

.venv-py36/.ready: $(VENV_DEPS) requirements/test-py36.txt
	$(PY36) scripts/mkvenv.py .venv-py36 requirements/test-py36.txt
	touch $@

.venv-test/.ready: $(VENV_DEPS) requirements/test.txt
	$(PYNEW) scripts/mkvenv.py .venv-test requirements/test.txt
	touch $@

.venv-py36/.installed: .venv-py36/.ready $(APP_SOURCES)
	$(REINSTALL)
	touch $@

.venv-test/.installed: .venv-test/.ready $(APP_SOURCES)
	$(REINSTALL)
	touch $@

# The real AMI clients the suite drives (panoramisk, py-Asterisk, asterisk-ami), each in a venv
# of a Python it supports: requirements/ami-clients.txt.
.venv-ami/.ready: requirements/ami-clients.txt scripts/mkami-clients
	scripts/mkami-clients $(PYENV_ROOT)
	touch $@

test-py36: .venv-py36/.installed .venv-ami/.ready
	@scripts/install-etcd
	.venv-py36/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# What test-py36 and test-new share, made one at a time (venvs, apt), so that scripts/suite can
# then run the two side by side.
test-prepare: .venv-py36/.installed .venv-test/.installed .venv-ami/.ready
	@scripts/install-browser
	@scripts/install-etcd

# The wallboard's browser test needs chromium and chromium-driver, the replicated store's tests
# etcd (both installed when missing, as root).
test-new: .venv-test/.installed .venv-ami/.ready
	@scripts/install-browser
	@scripts/install-etcd
	.venv-test/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Tests that mount a size-limited tmpfs (a full or read-only disk), on both Pythons (the
# wallboard's banner on the newest only: Selenium): root only, and refused without it rather
# than passed or skipped.
test-root: .venv-py36/.installed .venv-test/.installed
	@if [ "$$(id -u)" != 0 ]; then echo "make test-root: must run as root (it mounts tmpfs file systems and makes network namespaces)" >&2; exit 1; fi
	@scripts/install-etcd
	.venv-py36/bin/python -m pytest -p no:cacheprovider -m root $(PYTEST_ARGS) tests/store/test_disk_full_processes.py tests/wiring/test_ha_partition_processes.py
	@scripts/install-browser
	.venv-test/bin/python -m pytest -p no:cacheprovider -m root $(PYTEST_ARGS) tests/store/test_disk_full_processes.py tests/wiring/test_ha_partition_processes.py tests/web/test_wallboard_browser.py

lint: .venv-test/.ready
	.venv-test/bin/ruff check app tests bench scripts
	.venv-test/bin/ruff format --check app tests bench scripts
	.venv-test/bin/mypy
	@# vermin takes our Operator's .call attribute for the stdlib's operator.call (3.11).
	.venv-test/bin/vermin --target=3.6- --violations --no-tips --eval-annotations \
		--exclude operator.call app/callcenter app/twisted
	@# The image workflow cannot run here: actionlint (with shellcheck for its run: steps) checks it.
	.venv-test/bin/actionlint -no-color -shellcheck .venv-test/bin/shellcheck -pyflakes= .github/workflows/*.yml
	.venv-test/bin/docker-compose --file compose.yaml --profile client config --quiet

deploy-check:
	deploy/check

# The Vagrantfile on a QEMU VM (vagrant-libvirt, no KVM needed), as root: about 22 minutes, so not
# in make test (deploy/check runs the same checks with the docker provider).
vagrant-vm-check:
	deploy/vagrant-check libvirt

# Container images (issue 12): podman, as root. deploy/check runs images-check too.
images:
	containers/build

images-check:
	containers/check

# Benchmarks (issue 5): figures printed and written to bench/results/ (JSON, summary.md, PNG).
.venv-bench/.ready: $(VENV_DEPS) requirements/bench.txt
	$(PYNEW) scripts/mkvenv.py .venv-bench requirements/bench.txt
	touch $@

.venv-bench/.installed: .venv-bench/.ready $(APP_SOURCES)
	$(REINSTALL)
	touch $@

bench: .venv-bench/.installed
	@scripts/install-browser
	@scripts/install-etcd
	.venv-bench/bin/python -m bench $(BENCH_ARGS)

bench-quick: .venv-bench/.installed
	@scripts/install-browser
	@scripts/install-etcd
	.venv-bench/bin/python -m bench --quick $(BENCH_ARGS)

# Each part timed; after a failure the rest still run; a line a part at the end.
test:
	@scripts/suite lint test-py36+test-new test-root deploy-check

clean:
	rm -rf .venv .venv-py36 .venv-test .venv-deploy .venv-bench .venv-ami build *.egg-info bench/results
