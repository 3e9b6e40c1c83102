"""docker-py (Debian's python3-docker) against a daemon at DOCKER_HOST.

Runs the SDK's everyday flow and prints one JSON summary on stdout; the test that runs this
script asserts on it. A step that raises is recorded with its error so one failure does not
hide the others.
"""
import json
import sys
import traceback

import docker

summary = {}
errors = {}


def step(name):
    def wrap(fn):
        try:
            summary[name] = fn()
        except Exception as e:  # noqa: BLE001 - any SDK error is a finding
            errors[name] = f'{type(e).__name__}: {e}'
            traceback.print_exc(file=sys.stderr)
        return fn

    return wrap


client = docker.from_env(timeout=60)


@step('version')
def _():
    v = client.version()
    return {'ApiVersion': v.get('ApiVersion'), 'Os': v.get('Os'), 'Arch': v.get('Arch')}


@step('ping')
def _():
    return client.ping()


@step('images_list')
def _():
    return sorted(t for i in client.images.list() for t in i.tags)


@step('image_get')
def _():
    img = client.images.get('busybox')
    return {'id': img.id, 'short_id': img.short_id, 'tags': img.tags}


@step('run_echo')
def _():
    return client.containers.run('busybox', 'echo hi', remove=True).decode()


@step('run_fails')
def _():
    try:
        client.containers.run('busybox', ['sh', '-c', 'echo bad >&2; exit 2'], remove=True)
        return 'no error'
    except docker.errors.ContainerError as e:
        return {'exit_status': e.exit_status, 'stderr': e.stderr.decode()}


@step('detached')
def _():
    c = client.containers.run('busybox', ['sh', '-c', 'echo started; sleep 30'], detach=True)
    out = {'status_after_run': c.status}
    c.reload()
    out['status'] = c.status
    out['name'] = c.name
    res = c.exec_run('echo x')
    out['exec_exit_code'] = res.exit_code
    out['exec_output'] = res.output.decode()
    res = c.exec_run(['sh', '-c', 'exit 3'])
    out['exec_fail_code'] = res.exit_code
    c.stop(timeout=1)
    out['wait'] = c.wait(timeout=30)
    out['logs'] = c.logs().decode()
    c.reload()
    out['status_after_stop'] = c.status
    c.remove()
    out['listed_after_remove'] = any(x.id == c.id for x in client.containers.list(all=True))
    return out


@step('wait_exit')
def _():
    c = client.containers.run('busybox', ['sh', '-c', 'echo out; echo err >&2; exit 7'], detach=True)
    out = {'wait': c.wait(timeout=30)}
    # stdout and stderr are separate pipes, so their lines may interleave either way.
    out['logs_sorted'] = sorted(c.logs().decode().splitlines(keepends=True))
    out['stdout'] = c.logs(stdout=True, stderr=False).decode()
    out['stderr'] = c.logs(stdout=False, stderr=True).decode()
    c.remove()
    return out


@step('volumes')
def _():
    v = client.volumes.create('v1')
    out = {'name': v.name, 'driver': v.attrs.get('Driver')}
    out['listed'] = [x.name for x in client.volumes.list()]
    out['got'] = client.volumes.get('v1').name
    v.remove()
    out['listed_after_remove'] = [x.name for x in client.volumes.list()]
    return out


@step('tag_remove')
def _():
    img = client.images.get('busybox')
    ok = img.tag('lab/py', 'v1')
    out = {'tag_result': ok, 'tags': sorted(client.images.get('lab/py:v1').tags)}
    client.images.remove('lab/py:v1')
    try:
        client.images.get('lab/py:v1')
        out['after_remove'] = 'still there'
    except docker.errors.ImageNotFound:
        out['after_remove'] = 'ImageNotFound'
    return out


@step('not_found')
def _():
    try:
        client.containers.get('nope')
        return 'found'
    except docker.errors.NotFound as e:
        return {'status': e.status_code, 'explanation': e.explanation}


print(json.dumps({'summary': summary, 'errors': errors}))
