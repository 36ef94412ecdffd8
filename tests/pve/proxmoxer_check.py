"""Drive the homelab PVE simulator with proxmoxer (an outside client) and print what it sees.

Env: SIM_PORT, TOKEN_USER, TOKEN_NAME, TOKEN_VALUE, UPID (a finished task of the stage run).
Reads everything the proxmox stage reads, then clones, configures, resizes and starts VM 250
the way a proxmoxer user would, and prints one JSON document on stdout.
"""
import json
import os
import sys
import time
import urllib.parse

import urllib3
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

urllib3.disable_warnings()

pve = ProxmoxAPI(
    "127.0.0.1",
    port=int(os.environ["SIM_PORT"]),
    user=os.environ["TOKEN_USER"],
    token_name=os.environ["TOKEN_NAME"],
    token_value=os.environ["TOKEN_VALUE"],
    verify_ssl=False,
)
upid = os.environ["UPID"]
node = upid.split(":")[1]
out = {}
out["version"] = pve.version.get()
out["nodes"] = pve.nodes.get()
out["resources"] = pve.cluster.resources.get(type="vm")
out["nextid"] = pve.cluster.nextid.get()
out["permissions"] = pve.access.permissions.get()
out["storage"] = pve.nodes(node).storage.get()
out["content"] = pve.nodes(node).storage("local").content.get(content="import")
out["network"] = pve.nodes(node).network.get(type="any_bridge")
out["config"] = pve.nodes(node).qemu(201).config.get()
out["status"] = pve.nodes(node).qemu(201).status.current.get()
out["agent"] = pve.nodes(node).qemu(201).agent("network-get-interfaces").get()
out["task_status"] = pve.nodes(node).tasks(upid).status.get()
out["task_log"] = pve.nodes(node).tasks(upid).log.get(start=0, limit=500)


def wait(task):
    status = Tasks.blocking_status(pve, task, timeout=30, polling_interval=0.05)
    if status["exitstatus"] != "OK":
        sys.exit("task failed: %s" % status)
    return status


wait(pve.nodes(node).qemu(9000).clone.post(newid=250, name="pmx-vm", full=1, storage="local-lvm"))
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProxmoxerKey me@proxmoxer"
pve.nodes(node).qemu(250).config.put(
    cores=3,
    memory=1536,
    ciuser="pmx",
    sshkeys=urllib.parse.quote(key, safe=""),
    ipconfig0="ip=127.0.0.50/8,gw=127.0.0.1",
    tags="proxmoxer",
)
wait(pve.nodes(node).qemu(250).resize.put(disk="scsi0", size="12G"))
wait(pve.nodes(node).qemu(250).status.start.post())
out["pmx_config"] = pve.nodes(node).qemu(250).config.get()
out["pmx_status"] = pve.nodes(node).qemu(250).status.current.get()

try:
    pve.nodes(node).qemu(250).config.put(sshkeys=key)
    out["raw_sshkeys_error"] = None
except Exception as e:  # proxmoxer.core.ResourceException
    out["raw_sshkeys_error"] = str(e)

json.dump(out, sys.stdout)
