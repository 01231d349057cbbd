// Decides, for JSON lines {"noProxy": "...", "url": "..."} on stdin, what Go's golang.org/x/net/http/httpproxy (the
// proxy logic amazon-ssm-agent uses, via http.ProxyFromEnvironment) does with the URL: "direct", "proxy" or "error",
// one line each. Used by test/property/no-proxy-vs-go.test.ts to compare the node agent's no_proxy matcher.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"

	"golang.org/x/net/http/httpproxy"
)

type req struct {
	NoProxy string `json:"noProxy"`
	URL     string `json:"url"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var r req
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fmt.Fprintln(out, "error")
			continue
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			fmt.Fprintln(out, "error")
			continue
		}
		cfg := &httpproxy.Config{HTTPSProxy: "http://proxy.invalid:3128", HTTPProxy: "http://proxy.invalid:3128", NoProxy: r.NoProxy}
		p, err := cfg.ProxyFunc()(u)
		switch {
		case err != nil:
			fmt.Fprintln(out, "error")
		case p == nil:
			fmt.Fprintln(out, "direct")
		default:
			fmt.Fprintln(out, "proxy")
		}
	}
}
