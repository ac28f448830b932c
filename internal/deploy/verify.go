package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// clockSlack tolerates an agent whose clock is slightly behind the
// deploying machine's when looking for points newer than its restart.
const clockSlack = 5 * time.Second

// verify waits, for every agent deployed, until the server has its
// first points (herd_agent, tagged with the agent's host name). It asks
// the first deployed server through an SSH tunnel, so the server's API
// need not be reachable from the deploying machine.
func verify(ctx context.Context, runs []*hostRun, rep *reporter, timeout time.Duration) {
	var server *hostRun
	var wg sync.WaitGroup
	for _, h := range runs {
		if !h.t.has(roleServer) || !h.deployed {
			continue
		}
		if server == nil {
			server = h
		}
		wg.Add(1)
		go func(h *hostRun) {
			defer wg.Done()
			start := time.Now()
			if err := waitForPing(ctx, h, timeout); err != nil {
				h.fail(fmt.Errorf("verify: %w", err))
				return
			}
			h.res.OK++
			rep.task(h.t.name, "ok", fmt.Sprintf("server answers /ping on %s (waited %.1fs)", h.t.listenAddr, time.Since(start).Seconds()))
		}(h)
	}
	wg.Wait()
	if server != nil && server.res.Failed {
		server = nil
	}
	for _, h := range runs {
		if !h.t.has(roleAgent) || !h.deployed || h.res.Failed {
			continue
		}
		if server == nil {
			h.fail(fmt.Errorf("not verified: no server was deployed successfully"))
			continue
		}
		wg.Add(1)
		go func(h *hostRun) {
			defer wg.Done()
			rep.step(h.t.name, "waiting for first points on "+server.t.name)
			start := time.Now()
			err := waitForPoints(ctx, server, h, timeout)
			rep.step(h.t.name, "done")
			if err != nil {
				h.fail(fmt.Errorf("verify: %w", err))
				return
			}
			h.res.OK++
			rep.task(h.t.name, "ok", fmt.Sprintf("points from host=%s reach %s (waited %.1fs)", h.t.hostname, server.t.name, time.Since(start).Seconds()))
		}(h)
	}
	wg.Wait()
}

// fail marks the host failed after its tasks ran (verification).
func (h *hostRun) fail(err error) {
	h.res.Failed, h.res.Err = true, err
	h.rep.task(h.t.name, "failed", err.Error())
}

// apiClient is an HTTP client whose connections go through server's SSH
// connection to the server's API address on that host.
func apiClient(server *hostRun) (*http.Client, string) {
	addr := apiAddr(server.t.listenAddr)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return server.client.DialTCP(ctx, addr)
			},
		},
	}, addr
}

// poll calls try every 250ms until it returns nil or timeout passes.
func poll(ctx context.Context, timeout time.Duration, try func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func waitForPing(ctx context.Context, server *hostRun, timeout time.Duration) error {
	client, addr := apiClient(server)
	defer client.CloseIdleConnections()
	u := "http://" + addr + "/ping"
	server.rep.command(server.t.name, "GET "+u+" (through the SSH connection)")
	return poll(ctx, timeout, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("server does not answer on %s: %w", addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/ping: %s", resp.Status)
		}
		return nil
	})
}

// apiAddr is where the server's API is reached from the server host
// itself.
func apiAddr(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func waitForPoints(ctx context.Context, server, agent *hostRun, timeout time.Duration) error {
	client, addr := apiClient(server)
	defer client.CloseIdleConnections()
	// Points newer than the agent's restart prove the new agent works;
	// an agent left running needs only recent points.
	since := time.Now().Add(-5 * time.Minute)
	if t, ok := agent.restartedAt[roleAgent]; ok {
		since = t.Add(-clockSlack)
	}
	q := fmt.Sprintf("SELECT count(cycles) FROM herd_agent WHERE host = '%s' AND time >= '%s'",
		strings.ReplaceAll(agent.t.hostname, "'", `\'`), since.UTC().Format(time.RFC3339Nano))
	u := "http://" + addr + "/query?" + url.Values{"db": {"telegraf"}, "q": {q}}.Encode()
	agent.rep.command(agent.t.name, "GET "+u+" (through the SSH connection to "+server.t.name+")")
	err := poll(ctx, timeout, func() error {
		n, err := queryCount(ctx, client, u)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no points from host=%s yet", agent.t.hostname)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("no points from host=%s on %s: %w", agent.t.hostname, server.t.name, err)
	}
	return nil
}

// queryCount runs an InfluxQL count query and returns the count (0 when
// there is no series).
func queryCount(ctx context.Context, c *http.Client, u string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("query: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return 0, fmt.Errorf("query: decode %q: %w", body, err)
	}
	if len(r.Results) == 0 {
		return 0, nil
	}
	if e := r.Results[0].Error; e != "" {
		// A fresh server has no telegraf database until the first write.
		if strings.Contains(e, "database not found") {
			return 0, nil
		}
		return 0, fmt.Errorf("query: %s", e)
	}
	for _, s := range r.Results[0].Series {
		for _, v := range s.Values {
			if len(v) >= 2 {
				if n, ok := v[1].(json.Number); ok {
					return n.Int64()
				}
			}
		}
	}
	return 0, nil
}
