// wsload: a native WebSocket load generator for `make bench` (the Python
// client was the bottleneck, not matgto). It opens -c connections, each
// sending -n text messages pipelined (a writer goroutine) while a reader
// counts the replies, and prints one JSON line: messages per second counted
// in both directions (each round trip is two messages), and the errors.
//
//	wsload -serve                       an echo server on 127.0.0.1:0; prints its port
//	wsload -url ws://h/p [-proxy URL]   the load
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func serve() {
	up := websocket.Upgrader{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			kind, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(kind, msg); err != nil {
				return
			}
		}
	})
	_ = http.Serve(ln, handler)
}

type result struct {
	Connections int     `json:"connections"`
	Messages    int64   `json:"messages"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"messages_per_second"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

func main() {
	serveFlag := flag.Bool("serve", false, "run an echo server instead")
	target := flag.String("url", "", "ws:// URL")
	proxy := flag.String("proxy", "", "HTTP proxy URL (CONNECT)")
	conns := flag.Int("c", 8, "connections")
	n := flag.Int("n", 10000, "messages per connection")
	size := flag.Int("size", 32, "message size in bytes (a counter is prefixed)")
	flag.Parse()
	if *serveFlag {
		serve()
		return
	}
	dialer := websocket.Dialer{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10,
		HandshakeTimeout: 10 * time.Second}
	if *proxy != "" {
		p, err := url.Parse(*proxy)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		dialer.Proxy = http.ProxyURL(p)
	}
	var errors, done int64
	var firstErr atomic.Value
	fail := func(err error) {
		atomic.AddInt64(&errors, 1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	pad := make([]byte, *size)
	for i := range pad {
		pad[i] = 'x'
	}
	// Connect first, so that the clock measures messages only.
	clients := make([]*websocket.Conn, 0, *conns)
	for i := 0; i < *conns; i++ {
		c, _, err := dialer.Dial(*target, nil)
		if err != nil {
			fail(err)
			continue
		}
		clients = append(clients, c)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(2)
		go func(c *websocket.Conn) {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				msg := append([]byte(fmt.Sprintf("message %d ", i)), pad...)
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					fail(err)
					return
				}
			}
		}(c)
		go func(c *websocket.Conn) {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				if _, _, err := c.ReadMessage(); err != nil {
					fail(err)
					return
				}
				atomic.AddInt64(&done, 1)
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	for _, c := range clients {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		c.Close()
	}
	r := result{Connections: len(clients), Messages: 2 * done, Seconds: elapsed,
		PerSecond: float64(2*done) / elapsed, Errors: errors}
	if v := firstErr.Load(); v != nil {
		r.FirstError = v.(string)
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
