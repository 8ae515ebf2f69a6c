package matgto

import (
	"fmt"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/encoding/protojson"
)

// ParseProxyError decodes the JSON body of the proxy's answer to a request
// that replay could not answer (HTTP status 599, header X-Matgto-Error):
// which cassette, why ("no-match" or "exhausted") and the closest recorded
// requests.
func ParseProxyError(body []byte) (*pb.ProxyError, error) {
	var pe pb.ProxyError
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &pe); err != nil {
		return nil, fmt.Errorf("matgto: not a proxy error body: %w", err)
	}
	return &pe, nil
}
