"""Action id → playbook: a plain, explicit table."""

from __future__ import annotations

from kfops.playbooks.base import Playbook
from kfops.playbooks.deployments import RestartDeployment, SetControllerImage, SetControllerResources
from kfops.playbooks.galera import KillQuery
from kfops.playbooks.gpu import RestartDevicePlugin
from kfops.playbooks.jobs import RerunJob
from kfops.playbooks.kfp import RetryRun, TerminateRun
from kfops.playbooks.kserve import RollbackCanary, SetMinReplicas, SetResources, SetScaleTarget
from kfops.playbooks.node import Cordon, Drain, OutOfServiceTaint, Uncordon
from kfops.playbooks.pods import DeleteStepPod
from kfops.playbooks.profiles import RollbackProfile

PLAYBOOKS: dict[str, Playbook] = {
    p.action: p
    for p in (
        Cordon(),
        Uncordon(),
        Drain(),
        OutOfServiceTaint(),
        RestartDevicePlugin(),
        RerunJob(),
        KillQuery(),
        DeleteStepPod(),
        RestartDeployment(),
        TerminateRun(),
        RetryRun(),
        SetMinReplicas(),
        SetResources(),
        SetScaleTarget(),
        RollbackCanary(),
        SetControllerImage(),
        SetControllerResources(),
        RollbackProfile(),
    )
}
