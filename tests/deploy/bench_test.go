package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// playbook is the equivalent of the seed's telegraf role for herd: copy
// the binary, write the config and the systemd unit, enable, restart on
// change. (The seed role also downloaded Telegraf per architecture;
// here both tools copy the same local binary.)
const playbook = `- hosts: all
  gather_facts: true
  vars:
    r: "{{ herd_root }}/ansible"  # the stub systemctl reads units from herd_root
  tasks:
    - name: directories
      ansible.builtin.file: {path: "{{ item }}", state: directory, mode: "0755"}
      loop: ["{{ r }}/usr/local/bin", "{{ r }}/etc/herd", "{{ r }}/var/lib/herd"]
    - name: binary for the architecture
      ansible.builtin.copy: {src: "{{ bin_dir }}/herd-linux-amd64", dest: "{{ r }}/usr/local/bin/herd", mode: "0755"}
      notify: restart
    - name: config
      ansible.builtin.copy:
        dest: "{{ r }}/etc/herd/agent.toml"
        content: |
          urls = ["http://{{ server }}"]
          hostname = "{{ inventory_hostname }}-ansible"
          interval = "1s"
          buffer_dir = "{{ r }}/var/lib/herd/agent-buffer"
      notify: restart
    - name: unit
      ansible.builtin.copy:
        dest: "{{ herd_root }}/etc/systemd/system/herd-agent-ansible.service"
        content: |
          [Service]
          ExecStart={{ r }}/usr/local/bin/herd agent --config {{ r }}/etc/herd/agent.toml
          Restart=on-failure
      notify: restart
    - name: enable
      ansible.builtin.command: systemctl enable herd-agent-ansible.service
      args: {creates: "{{ herd_root }}/stub/enabled/herd-agent-ansible.service"}
  handlers:
    - name: restart
      ansible.builtin.command: systemctl restart herd-agent-ansible.service
`

// TestBenchVsAnsible measures (never asserts) herd deploy beside
// ansible-playbook running the playbook above, from scratch and for a
// no-change rerun, against the same 4 sshd test hosts. It is a slow
// extra: run it with HERD_DEPLOY_BENCH=1 go test -v -run BenchVsAnsible ./tests/deploy
// (needs Debian's ansible).
func TestBenchVsAnsible(t *testing.T) {
	if os.Getenv("HERD_DEPLOY_BENCH") == "" {
		t.Skip("set HERD_DEPLOY_BENCH=1 to compare with ansible-playbook")
	}
	ap, err := exec.LookPath("ansible-playbook")
	if err != nil {
		t.Skip("ansible-playbook not installed (Debian package ansible)")
	}
	c := newCluster(t, "whitemage", "blackmage", "paladin", "machinist")
	fresh := c.deploy("--accept-new-host-keys")
	rerun := c.deploy()
	if fresh.code != 0 || rerun.code != 0 {
		t.Fatalf("herd deploy failed: %d %d", fresh.code, rerun.code)
	}

	var inv strings.Builder
	inv.WriteString("[all]\n")
	for _, h := range c.hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=%d ansible_user=root herd_root=%s\n", h.name, h.sshd.IP, h.sshd.Port, h.root)
	}
	fmt.Fprintf(&inv, "[all:vars]\nansible_python_interpreter=/usr/bin/python3\nansible_ssh_private_key_file=%s\nbin_dir=%s\nserver=%s\n",
		filepath.Join(c.home, ".ssh", "id_ed25519"), c.binDir, c.httpAddr)
	invPath := filepath.Join(c.dir, "ansible.ini")
	pbPath := filepath.Join(c.dir, "herd.yml")
	writeFile(t, invPath, inv.String(), 0o644)
	writeFile(t, pbPath, playbook, 0o644)
	run := func() time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, ap, "-i", invPath, "--forks", "10", pbPath)
		if c.nw != nil {
			cmd = exec.CommandContext(ctx, "ip", "netns", "exec", c.nw.ControlNS(), ap, "-i", invPath, "--forks", "10", pbPath)
		}
		cmd.Env = []string{
			"HOME=" + c.home, "USER=root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1",
			"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=" + filepath.Join(c.home, ".ssh", "known_hosts"),
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("ansible-playbook: %v\n%s", err, out.String())
		}
		t.Logf("ansible-playbook in %s:\n%s", d.Round(time.Millisecond), out.String())
		return d
	}
	aFresh := run()
	aRerun := run()
	for _, h := range c.hosts {
		if n := c.points(t, h.name+"-ansible"); n == 0 {
			t.Logf("%s: the Ansible-deployed agent has no points yet (not verified by the playbook)", h.name)
		}
	}
	t.Logf("MEASURE 4 hosts from scratch: herd deploy %s (including verification of every agent's first points), ansible-playbook %s (no verification): ratio %.2f",
		fresh.elapsed.Round(time.Millisecond), aFresh.Round(time.Millisecond), aFresh.Seconds()/fresh.elapsed.Seconds())
	t.Logf("MEASURE 4 hosts no-change rerun: herd deploy %s, ansible-playbook %s: ratio %.2f",
		rerun.elapsed.Round(time.Millisecond), aRerun.Round(time.Millisecond), aRerun.Seconds()/rerun.elapsed.Seconds())
}
