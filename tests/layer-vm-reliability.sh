#!/bin/bash
# A second VM boot for the reliability tests whose result depends on the kernel (crash anywhere
# and churn with XFS project quotas and cgroup v2). The main VM layer runs the enforcement tests
# within its own time budget; these run here, at their make-check size.
cd "$(dirname "$0")/.." || exit 1
QT_VM_ONLY=${QT_VM_ONLY:-t-crash,t-churn} exec tests/layer-vm.sh "$@"
