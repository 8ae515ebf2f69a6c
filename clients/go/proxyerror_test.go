package matgto_test

import (
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

func TestParseProxyError(t *testing.T) {
	body := `{"error": "exhausted", "message": "all used", "cassette": "c/1", "future": 1,
	  "miss": {"method": "GET", "url": "http://h/p", "reason": "exhausted",
	           "closest": [{"interactionIndex": "3", "differences": [{"field": "query", "recorded": "a=1", "live": "a=2"}]}]}}`
	pe, err := matgto.ParseProxyError([]byte(body))
	if err != nil {
		t.Fatalf("ParseProxyError: %v", err)
	}
	if pe.GetError() != "exhausted" || pe.GetCassette() != "c/1" || pe.GetMiss().GetUrl() != "http://h/p" {
		t.Errorf("parsed %v", pe)
	}
	c := pe.GetMiss().GetClosest()
	if len(c) != 1 || c[0].GetInteractionIndex() != 3 || c[0].GetDifferences()[0].GetLive() != "a=2" {
		t.Errorf("closest = %v", c)
	}
	if _, err := matgto.ParseProxyError([]byte("<html>")); err == nil {
		t.Errorf("ParseProxyError accepted a non-JSON body")
	}
}
