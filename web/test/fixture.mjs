// Writes Telegraf-shaped line protocol for fake hosts into a herd server,
// as agents would: the browser tests and the benchmark share it.

const NS = 1_000_000n;

/** Line protocol for one host at time t (ms); i is the sample number. */
export function hostLines(host, t, i, { pi = false, docker = false, tags = '' } = {}) {
  const ts = `${BigInt(Math.round(t)) * NS}`;
  const hk = `host=${host}${tags}`;
  const wave = (p, a, b) => a + (b - a) * (0.5 + 0.5 * Math.sin(i / p));
  const idle = wave(20, 40, 95);
  const lines = [
    `cpu,cpu=cpu-total,${hk} usage_idle=${idle},usage_user=${(100 - idle) * 0.7},usage_system=${(100 - idle) * 0.25},usage_iowait=${(100 - idle) * 0.05},usage_nice=0,usage_irq=0,usage_softirq=0,usage_steal=0 ${ts}`,
    `cpu,cpu=cpu0,${hk} usage_idle=${idle - 5},usage_user=1 ${ts}`,
    `cpu,cpu=cpu1,${hk} usage_idle=${Math.min(100, idle + 5)},usage_user=1 ${ts}`,
    `mem,${hk} used_percent=${wave(30, 30, 60)},used=${Math.round(wave(30, 1.2e9, 2.4e9))}i,cached=500000000i,buffered=100000000i,free=900000000i,total=4000000000i,available=2000000000i ${ts}`,
    `swap,${hk} used=${10_000_000 + i * 1000}i,total=1000000000i,used_percent=1 ${ts}`,
    `disk,${hk},path=/,device=mmcblk0p2,fstype=ext4,mode=rw used_percent=42.5,used=12000000000i,total=30000000000i,free=18000000000i ${ts}`,
    `disk,${hk},path=/boot/firmware,device=mmcblk0p1,fstype=vfat,mode=rw used_percent=12,used=60000000i,total=500000000i,free=440000000i ${ts}`,
    `diskio,${hk},name=mmcblk0 read_bytes=${1e6 + i * 4096}i,write_bytes=${2e6 + i * 81920}i,reads=${i}i,writes=${i * 3}i ${ts}`,
    `net,${hk},interface=eth0 bytes_recv=${1e6 + i * 125000}i,bytes_sent=${5e5 + i * 25000}i,err_in=0i,err_out=0i,drop_in=0i,drop_out=0i ${ts}`,
    `system,${hk} load1=${wave(15, 0.1, 1.5)},load5=0.5,load15=0.4,n_cpus=4i,uptime=${86400 * 3 + i * 10}i,uptime_format="3 days" ${ts}`,
    `processes,${hk} running=2i,blocked=0i,zombies=0i,sleeping=120i,total=122i ${ts}`,
    `temp,${hk},sensor=cpu_thermal temp=${wave(25, 45, 62)} ${ts}`,
  ];
  if (pi) {
    const uv = i % 90 > 80;
    lines.push(`rpi,${hk},model=Raspberry\\ Pi\\ 4\\ Model\\ B under_voltage=${uv},throttled=${uv},freq_capped=false,soft_temp_limit=false,under_voltage_occurred=true,throttled_occurred=true,throttled_raw=${uv ? 327685 : 327680}i,arm_freq_hz=1500000000i ${ts}`);
  }
  if (docker) {
    for (const [name, image, cpu, mem] of [['web', 'nginx:1.27', wave(10, 1, 30), 40e6], ['db', 'postgres:16', wave(40, 5, 15), 300e6]]) {
      const ct = `${hk},engine_host=${host},container_name=${name},container_image=${image.split(':')[0]},container_version=${image.split(':')[1]},container_status=running`;
      lines.push(`docker_container_cpu,${ct},cpu=cpu-total usage_percent=${cpu},usage_total=${i * 1e9}i ${ts}`);
      lines.push(`docker_container_mem,${ct} usage=${Math.round(mem + i * 1000)}i,limit=4000000000i,usage_percent=${mem / 4e7} ${ts}`);
      lines.push(`docker_container_status,${ct} oomkilled=false,pid=${1000 + name.length}i,exitcode=0i,uptime_ns=${(3600 + i * 10) * 1e9}i ${ts}`);
    }
  }
  return lines;
}

/** POSTs lines to /write?db=telegraf, in chunks. */
export async function write(url, lines) {
  for (let i = 0; i < lines.length; i += 20000) {
    const res = await fetch(`${url}/write?db=telegraf`, { method: 'POST', body: lines.slice(i, i + 20000).join('\n') });
    if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`);
  }
}

/** History every 10 s from now-span until end (ms), for each host. */
export function history(hosts, span, end, opts = () => ({})) {
  const lines = [];
  const step = 10_000;
  const first = Math.floor((end - span) / step) * step;
  for (const host of hosts) {
    let i = 0;
    for (let t = first; t <= end; t += step) lines.push(...hostLines(host, t, i++, opts(host)));
  }
  return lines;
}

export async function createDB(url) {
  const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: 'CREATE DATABASE telegraf' }) });
  if (!res.ok) throw new Error(`create database: ${res.status}`);
}
