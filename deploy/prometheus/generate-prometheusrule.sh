#!/usr/bin/env bash
# Print prometheusrule.yaml: kfops-alerts.yaml wrapped as a prometheus-operator PrometheusRule.
# The rule groups are copied line by line, comments included, indented under `spec:`.
#   bash deploy/prometheus/generate-prometheusrule.sh > deploy/prometheus/prometheusrule.yaml
# tests/rules/test_promtool.py fails when the two files drift apart.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cat <<'HEADER'
# GENERATED from kfops-alerts.yaml by generate-prometheusrule.sh: edit kfops-alerts.yaml, then
# regenerate (see README.md). The same rules for prometheus-operator users.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: kfops-alerts
  labels:
    app.kubernetes.io/name: kfops
    app.kubernetes.io/component: alert-rules
    # kube-prometheus-stack only loads PrometheusRules matching its ruleSelector, by default
    # `release: <helm release name>`: add that label here (or with kustomize) if you use it.
spec:
HEADER
# Indent every non-empty line by two spaces (blank lines stay empty: no trailing whitespace).
sed 's/^./  &/' "$here/kfops-alerts.yaml"
