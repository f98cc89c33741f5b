package jute

// Record is a jute record: it writes and reads itself field by field, in the
// order zookeeper.jute declares them.
type Record interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// Permission bits of an ACL (ZooDefs.Perms).
const (
	PermRead   int32 = 1 << 0
	PermWrite  int32 = 1 << 1
	PermCreate int32 = 1 << 2
	PermDelete int32 = 1 << 3
	PermAdmin  int32 = 1 << 4
	PermAll    int32 = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// Create flags (CreateMode.toFlag).
const (
	FlagPersistent                  int32 = 0
	FlagEphemeral                   int32 = 1
	FlagPersistentSequential        int32 = 2
	FlagEphemeralSequential         int32 = 3
	FlagContainer                   int32 = 4
	FlagPersistentWithTTL           int32 = 5
	FlagPersistentSequentialWithTTL int32 = 6
)

// Watch event types (Watcher.Event.EventType).
const (
	EventNone                   int32 = -1
	EventNodeCreated            int32 = 1
	EventNodeDeleted            int32 = 2
	EventNodeDataChanged        int32 = 3
	EventNodeChildrenChanged    int32 = 4
	EventDataWatchRemoved       int32 = 5
	EventChildWatchRemoved      int32 = 6
	EventPersistentWatchRemoved int32 = 7
)

// Keeper states carried in watch events (Watcher.Event.KeeperState).
const (
	StateDisconnected  int32 = 0
	StateSyncConnected int32 = 3
	StateAuthFailed    int32 = 4
	StateReadOnly      int32 = 5
	StateSaslAuth      int32 = 6
	StateExpired       int32 = -112
	StateClosed        int32 = 7
)

// Watcher types for checkWatches/removeWatches (Watcher.WatcherType).
const (
	WatcherChildren int32 = 1
	WatcherData     int32 = 2
	WatcherAny      int32 = 3
	// Persistent watcher types exist in later ZooKeeper versions; 3.8 clients
	// remove persistent watches with Any.
)

// Add-watch modes (ZooDefs.AddWatchModes).
const (
	AddWatchPersistent          int32 = 0
	AddWatchPersistentRecursive int32 = 1
)

// Id names an authenticated identity: scheme plus id.
type Id struct {
	Scheme string
	ID     string
}

func (r *Id) Encode(e *Encoder) { e.String(r.Scheme); e.String(r.ID) }
func (r *Id) Decode(d *Decoder) { r.Scheme = d.String(); r.ID = d.String() }

// ACL grants Perms to an Id.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

func (r *ACL) Encode(e *Encoder) { e.Int(r.Perms); e.String(r.Scheme); e.String(r.ID) }
func (r *ACL) Decode(d *Decoder) { r.Perms = d.Int(); r.Scheme = d.String(); r.ID = d.String() }

func encodeACLs(e *Encoder, acls []ACL) {
	if acls == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(acls)))
	for i := range acls {
		acls[i].Encode(e)
	}
}

func decodeACLs(d *Decoder) []ACL {
	n := d.Count(12)
	if n < 0 || d.Err() != nil {
		return nil
	}
	acls := make([]ACL, n)
	for i := range acls {
		acls[i].Decode(d)
	}
	return acls
}

// Stat is a znode's metadata as clients see it.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// StatSize is the encoded size of a Stat.
const StatSize = 68

func (r *Stat) Encode(e *Encoder) {
	e.Long(r.Czxid)
	e.Long(r.Mzxid)
	e.Long(r.Ctime)
	e.Long(r.Mtime)
	e.Int(r.Version)
	e.Int(r.Cversion)
	e.Int(r.Aversion)
	e.Long(r.EphemeralOwner)
	e.Int(r.DataLength)
	e.Int(r.NumChildren)
	e.Long(r.Pzxid)
}

func (r *Stat) Decode(d *Decoder) {
	r.Czxid = d.Long()
	r.Mzxid = d.Long()
	r.Ctime = d.Long()
	r.Mtime = d.Long()
	r.Version = d.Int()
	r.Cversion = d.Int()
	r.Aversion = d.Int()
	r.EphemeralOwner = d.Long()
	r.DataLength = d.Int()
	r.NumChildren = d.Int()
	r.Pzxid = d.Long()
}

// ConnectRequest opens or re-attaches a session. ReadOnly is absent from very
// old clients; HasReadOnly records whether it was present.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

func (r *ConnectRequest) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Long(r.LastZxidSeen)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	e.Bool(r.ReadOnly)
}

func (r *ConnectRequest) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.LastZxidSeen = d.Long()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	if d.Err() == nil && d.Remaining() > 0 {
		r.ReadOnly = d.Bool()
		r.HasReadOnly = true
	}
}

// ConnectResponse answers a ConnectRequest. A rejected (expired) session is
// answered with TimeOut 0, SessionID 0 and a zero password.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

func (r *ConnectResponse) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	if r.HasReadOnly {
		e.Bool(r.ReadOnly)
	}
}

func (r *ConnectResponse) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	if d.Err() == nil && d.Remaining() > 0 {
		r.ReadOnly = d.Bool()
		r.HasReadOnly = true
	}
}

// RequestHeader precedes every request after the handshake.
type RequestHeader struct {
	Xid  int32
	Type OpCode
}

func (r *RequestHeader) Encode(e *Encoder) { e.Int(r.Xid); e.Int(int32(r.Type)) }
func (r *RequestHeader) Decode(d *Decoder) { r.Xid = d.Int(); r.Type = OpCode(d.Int()) }

// ReplyHeader precedes every reply and notification.
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  Err
}

// ReplyHeaderSize is the encoded size of a ReplyHeader.
const ReplyHeaderSize = 16

func (r *ReplyHeader) Encode(e *Encoder) { e.Int(r.Xid); e.Long(r.Zxid); e.Int(int32(r.Err)) }
func (r *ReplyHeader) Decode(d *Decoder) { r.Xid = d.Int(); r.Zxid = d.Long(); r.Err = Err(d.Int()) }

// PathRequest is the shape shared by requests that carry only a path
// (sync, getACL, getAllChildrenNumber, getEphemerals, SyncResponse).
type PathRequest struct {
	Path string
}

func (r *PathRequest) Encode(e *Encoder) { e.String(r.Path) }
func (r *PathRequest) Decode(d *Decoder) { r.Path = d.String() }

// PathWatchRequest is the shape of exists, getData, getChildren and
// getChildren2 requests.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

func (r *PathWatchRequest) Encode(e *Encoder) { e.String(r.Path); e.Bool(r.Watch) }
func (r *PathWatchRequest) Decode(d *Decoder) { r.Path = d.String(); r.Watch = d.Bool() }

// PathVersionRequest is the shape of delete and check requests.
type PathVersionRequest struct {
	Path    string
	Version int32
}

func (r *PathVersionRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Version) }
func (r *PathVersionRequest) Decode(d *Decoder) { r.Path = d.String(); r.Version = d.Int() }

// SetDataRequest replaces a node's data.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

func (r *SetDataRequest) Encode(e *Encoder) { e.String(r.Path); e.Buffer(r.Data); e.Int(r.Version) }
func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.Version = d.Int()
}

// CreateRequest creates a node. TTL is only on the wire for createTTL
// (HasTTL); for the other create opcodes it is -1.
type CreateRequest struct {
	Path   string
	Data   []byte
	ACL    []ACL
	Flags  int32
	TTL    int64
	HasTTL bool
}

func (r *CreateRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	encodeACLs(e, r.ACL)
	e.Int(r.Flags)
	if r.HasTTL {
		e.Long(r.TTL)
	}
}

func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = decodeACLs(d)
	r.Flags = d.Int()
	if r.HasTTL {
		r.TTL = d.Long()
	} else {
		r.TTL = -1
	}
}

// SetACLRequest replaces a node's ACL.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

func (r *SetACLRequest) Encode(e *Encoder) { e.String(r.Path); encodeACLs(e, r.ACL); e.Int(r.Version) }
func (r *SetACLRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.ACL = decodeACLs(d)
	r.Version = d.Int()
}

// PathModeRequest is the shape of addWatch, checkWatches and removeWatches
// (the int is a mode or a watcher type).
type PathModeRequest struct {
	Path string
	Mode int32
}

func (r *PathModeRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Mode) }
func (r *PathModeRequest) Decode(d *Decoder) { r.Path = d.String(); r.Mode = d.Int() }

// SetWatchesRequest re-registers watches after a reconnect. It covers both
// setWatches (V2 false) and setWatches2 (V2 true, with persistent watches).
type SetWatchesRequest struct {
	RelativeZxid        int64
	DataWatches         []string
	ExistWatches        []string
	ChildWatches        []string
	PersistentWatches   []string
	PersistentRecursive []string
	V2                  bool
}

func (r *SetWatchesRequest) Encode(e *Encoder) {
	e.Long(r.RelativeZxid)
	e.Strings(r.DataWatches)
	e.Strings(r.ExistWatches)
	e.Strings(r.ChildWatches)
	if r.V2 {
		e.Strings(r.PersistentWatches)
		e.Strings(r.PersistentRecursive)
	}
}

func (r *SetWatchesRequest) Decode(d *Decoder) {
	r.RelativeZxid = d.Long()
	r.DataWatches = d.Strings()
	r.ExistWatches = d.Strings()
	r.ChildWatches = d.Strings()
	if r.V2 {
		r.PersistentWatches = d.Strings()
		r.PersistentRecursive = d.Strings()
	}
}

// AuthPacket adds an authenticated identity to the connection.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

func (r *AuthPacket) Encode(e *Encoder) { e.Int(r.Type); e.String(r.Scheme); e.Buffer(r.Auth) }
func (r *AuthPacket) Decode(d *Decoder) { r.Type = d.Int(); r.Scheme = d.String(); r.Auth = d.Buffer() }

// ReconfigRequest is decoded only to answer it (zkx has no dynamic reconfig).
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

func (r *ReconfigRequest) Encode(e *Encoder) {
	e.String(r.JoiningServers)
	e.String(r.LeavingServers)
	e.String(r.NewMembers)
	e.Long(r.CurConfigID)
}

func (r *ReconfigRequest) Decode(d *Decoder) {
	r.JoiningServers = d.String()
	r.LeavingServers = d.String()
	r.NewMembers = d.String()
	r.CurConfigID = d.Long()
}

// RecipeCallRequest is zkx's opcode 7001: run Function of recipe Name.
type RecipeCallRequest struct {
	Name     string
	Function string
	Args     []byte
}

func (r *RecipeCallRequest) Encode(e *Encoder) {
	e.String(r.Name)
	e.String(r.Function)
	e.Buffer(r.Args)
}
func (r *RecipeCallRequest) Decode(d *Decoder) {
	r.Name = d.String()
	r.Function = d.String()
	r.Args = d.Buffer()
}

// StatResponse is the shape of exists, setData, setACL and check replies.
type StatResponse struct {
	Stat Stat
}

func (r *StatResponse) Encode(e *Encoder) { r.Stat.Encode(e) }
func (r *StatResponse) Decode(d *Decoder) { r.Stat.Decode(d) }

// GetDataResponse carries data and Stat.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

func (r *GetDataResponse) Encode(e *Encoder) { e.Buffer(r.Data); r.Stat.Encode(e) }
func (r *GetDataResponse) Decode(d *Decoder) { r.Data = d.Buffer(); r.Stat.Decode(d) }

// CreateResponse carries the created path (create); Create2Response adds the
// Stat (create2, createContainer, createTTL).
type CreateResponse struct {
	Path string
}

func (r *CreateResponse) Encode(e *Encoder) { e.String(r.Path) }
func (r *CreateResponse) Decode(d *Decoder) { r.Path = d.String() }

type Create2Response struct {
	Path string
	Stat Stat
}

func (r *Create2Response) Encode(e *Encoder) { e.String(r.Path); r.Stat.Encode(e) }
func (r *Create2Response) Decode(d *Decoder) { r.Path = d.String(); r.Stat.Decode(d) }

// ChildrenResponse is getChildren's reply and getEphemerals' reply.
type ChildrenResponse struct {
	Children []string
}

func (r *ChildrenResponse) Encode(e *Encoder) { e.Strings(r.Children) }
func (r *ChildrenResponse) Decode(d *Decoder) { r.Children = d.Strings() }

// Children2Response is getChildren2's reply.
type Children2Response struct {
	Children []string
	Stat     Stat
}

func (r *Children2Response) Encode(e *Encoder) { e.Strings(r.Children); r.Stat.Encode(e) }
func (r *Children2Response) Decode(d *Decoder) { r.Children = d.Strings(); r.Stat.Decode(d) }

// GetACLResponse carries a node's ACL and Stat.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

func (r *GetACLResponse) Encode(e *Encoder) { encodeACLs(e, r.ACL); r.Stat.Encode(e) }
func (r *GetACLResponse) Decode(d *Decoder) { r.ACL = decodeACLs(d); r.Stat.Decode(d) }

// IntResponse is the shape of getAllChildrenNumber's reply and ErrorResponse.
type IntResponse struct {
	Value int32
}

func (r *IntResponse) Encode(e *Encoder) { e.Int(r.Value) }
func (r *IntResponse) Decode(d *Decoder) { r.Value = d.Int() }

// WatcherEvent is the body of a notification (xid -1).
type WatcherEvent struct {
	Type  int32
	State int32
	Path  string
}

func (r *WatcherEvent) Encode(e *Encoder) { e.Int(r.Type); e.Int(r.State); e.String(r.Path) }
func (r *WatcherEvent) Decode(d *Decoder) { r.Type = d.Int(); r.State = d.Int(); r.Path = d.String() }

// ClientInfo is one entry of whoAmI's reply.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmIResponse lists the connection's identities.
type WhoAmIResponse struct {
	ClientInfo []ClientInfo
}

func (r *WhoAmIResponse) Encode(e *Encoder) {
	if r.ClientInfo == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(r.ClientInfo)))
	for _, c := range r.ClientInfo {
		e.String(c.AuthScheme)
		e.String(c.User)
	}
}

func (r *WhoAmIResponse) Decode(d *Decoder) {
	n := d.Count(8)
	if n < 0 || d.Err() != nil {
		return
	}
	r.ClientInfo = make([]ClientInfo, n)
	for i := range r.ClientInfo {
		r.ClientInfo[i].AuthScheme = d.String()
		r.ClientInfo[i].User = d.String()
	}
}

// BufferResponse carries one buffer: recipeCall's result, sasl tokens.
type BufferResponse struct {
	Data []byte
}

func (r *BufferResponse) Encode(e *Encoder) { e.Buffer(r.Data) }
func (r *BufferResponse) Decode(d *Decoder) { r.Data = d.Buffer() }
