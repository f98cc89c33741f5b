package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Recipe management goes through zkx's system recipe "zkx": a module is
// uploaded, zstd-compressed, as children of a node under /zkx/uploads (each
// well under a request's 1 MiB limit), then zkx.put checks, compiles and
// installs it in one txn and removes the upload. zkx.delete removes a
// recipe. Both need ADMIN on /zkx/recipes.
const (
	recipeUploads = "/zkx/uploads"
	uploadChunk   = 512 << 10
)

var (
	moduleEncoderOnce sync.Once
	moduleEncoder     *zstd.Encoder
)

// PutRecipe installs module (JavaScript source, or WebAssembly) as recipe
// name, replacing an older version. budgetMs > 0 lowers the recipe's time
// budget per call. The server refuses a module that does not compile, with
// the compiler's message in the *Error.
func (c *Client) PutRecipe(ctx context.Context, name string, module []byte, budgetMs int) error {
	moduleEncoderOnce.Do(func() { moduleEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)) })
	compressed := moduleEncoder.EncodeAll(module, nil)
	var id [8]byte
	rand.Read(id[:])
	upload := recipeUploads + "/" + hex.EncodeToString(id[:])
	if _, err := c.Create(ctx, upload, nil, Persistent, WorldACL(PermAll)); err != nil {
		return err
	}
	cleanup := func() {
		// Best effort, on a fresh context: ctx may be what ended.
		cctx, cancel := context.WithTimeout(context.Background(), c.SessionTimeout())
		defer cancel()
		kids, _ := c.Children(cctx, upload)
		for _, k := range kids {
			c.Delete(cctx, upload+"/"+k, -1)
		}
		c.Delete(cctx, upload, -1)
	}
	for i := 0; i == 0 || i*uploadChunk < len(compressed); i++ {
		end := min((i+1)*uploadChunk, len(compressed))
		if _, err := c.Create(ctx, fmt.Sprintf("%s/%05d", upload, i), compressed[i*uploadChunk:end], Persistent, WorldACL(PermAll)); err != nil {
			cleanup()
			return err
		}
	}
	args, _ := json.Marshal(map[string]any{"name": name, "upload": upload, "budget_ms": budgetMs})
	if _, err := c.Call(ctx, "zkx", "put", args); err != nil {
		cleanup()
		return err
	}
	return nil
}

// DeleteRecipe removes recipe name.
func (c *Client) DeleteRecipe(ctx context.Context, name string) error {
	args, _ := json.Marshal(map[string]string{"name": name})
	_, err := c.Call(ctx, "zkx", "delete", args)
	return err
}
