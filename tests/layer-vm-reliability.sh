#!/bin/bash
# A second VM boot for the reliability tests whose result depends on the kernel (crash anywhere
# and churn with XFS project quotas and cgroup v2; project ids over 1,000 lifetimes and a tree walk
# cut short by kill -9). The main VM layer runs the enforcement tests
# within its own time budget; these run here, at their make-check size.
cd "$(dirname "$0")/.." || exit 1
QT_VM_ONLY=${QT_VM_ONLY:-t-crash,t-churn,t-quota-life} exec tests/layer-vm.sh "$@"
