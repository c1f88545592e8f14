package guide

import "slices"

// EntityColumn is one of GUIDE's anonymised entity-identifier columns whose values an Incident keeps:
// the device, file, address, account, application or registry key that a piece of evidence names.
// Columns that describe rather than identify (OSFamily, CountryCode, ResourceType, ...) are not among
// them, nor NetworkMessageId (one per message: it never recurs in another incident).
type EntityColumn uint8

// Entity columns. The numbers are packed into EntityKey values: append only.
const (
	EntityDeviceID EntityColumn = iota + 1
	EntitySha256
	EntityIPAddress
	EntityURL
	EntityAccountSid
	EntityAccountUpn
	EntityAccountObjectID
	EntityAccountName
	EntityDeviceName
	EntityEmailClusterID
	EntityRegistryKey
	EntityRegistryValueData
	EntityApplicationID
	EntityOAuthApplicationID
	EntityFileName
	EntityFolderPath
	EntityResourceIDName
)

// MaxEntities bounds Incident.Entities. An incident naming more identifiers keeps a sample of them: those
// whose keys hash lowest (a bottom-k sketch), the same sample whatever the order of its rows.
const MaxEntities = 64

// entityValueBits is the width of an identifier in an EntityKey; the column takes the bits above.
const entityValueBits = 56

// EntityKey packs a column and an identifier into one value (the column in the top byte): equal
// identifiers of different columns differ. Identifiers wider than 56 bits keep their low 56 bits.
func EntityKey(col EntityColumn, value int64) uint64 {
	return uint64(col)<<entityValueBits | uint64(value)&(1<<entityValueBits-1)
}

// Column is the column of an EntityKey.
func Column(key uint64) EntityColumn { return EntityColumn(key >> entityValueBits) }

// entityValues lists the row's entity identifiers with their columns; an empty cell (zero) names none.
func (r *Row) entityValues(dst []uint64) []uint64 {
	for _, e := range [...]struct {
		col EntityColumn
		v   int64
	}{
		{EntityDeviceID, r.DeviceID}, {EntitySha256, r.Sha256}, {EntityIPAddress, r.IPAddress}, {EntityURL, r.URL},
		{EntityAccountSid, r.AccountSid}, {EntityAccountUpn, r.AccountUpn}, {EntityAccountObjectID, r.AccountObjectID},
		{EntityAccountName, r.AccountName}, {EntityDeviceName, r.DeviceName}, {EntityEmailClusterID, r.EmailClusterID},
		{EntityRegistryKey, r.RegistryKey}, {EntityRegistryValueData, r.RegistryValueData},
		{EntityApplicationID, r.ApplicationID}, {EntityOAuthApplicationID, r.OAuthApplicationID},
		{EntityFileName, r.FileName}, {EntityFolderPath, r.FolderPath}, {EntityResourceIDName, r.ResourceIDName},
	} {
		if e.v != 0 {
			dst = append(dst, EntityKey(e.col, e.v))
		}
	}
	return dst
}

// addEntity adds key to a sorted set of at most MaxEntities keys: when the set is full, key takes the
// place of the key that hashes highest if its own hash is lower.
func addEntity(set []uint64, key uint64) []uint64 {
	i, found := slices.BinarySearch(set, key)
	if found {
		return set
	}
	if len(set) < MaxEntities {
		return insert(set, i, key)
	}
	worst, worstHash := -1, SampleRank(key)
	for j, k := range set {
		if h := SampleRank(k); h > worstHash {
			worst, worstHash = j, h
		}
	}
	if worst < 0 {
		return set
	}
	set = slices.Delete(set, worst, worst+1)
	i, _ = slices.BinarySearch(set, key)
	return slices.Insert(set, i, key)
}

// SampleRank orders identifiers for the sample of an incident that names more than MaxEntities: the
// lowest ranks stay. It is splitmix64's finaliser, a bijection that scatters keys.
func SampleRank(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
