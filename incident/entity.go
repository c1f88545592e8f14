package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Key returns a stable identity of the entity, the same for the same thing wherever it appears, for
// deduplication across alerts and incidents. It uses the strongest identifier the entity has:
//
//	device:mde:<id>  device:aad:<id>  device:dns:<name>
//	user:aad:<id>  user:upn:<upn>  user:sid:<sid>  user:account:<domain>\<name>
//	mailbox:<address>
//	email:<networkMessageId>:<recipient>  (email:imid:<internetMessageId>:<recipient> without one)
//	file:sha256:<hash>  file:sha1:<hash>  file:name:<path>\<name>
//	process:<mdeDeviceId>:<pid>:<creation time>
//	ip:<address>  url:<url>  oauth:<appId>  cloudApp:<appId>:<instanceId>
//	registryKey:<hive>\<key>  registryValue:<mdeDeviceId>:<hive>\<key>:<value name>
//	securityGroup:<id>  mailCluster:<clusterBy>:<value>
//	generic:<type>:<first 16 hex digits of the SHA-256 of the properties' canonical JSON>
//
// Case-insensitive identifiers (ids, UPNs, addresses, hashes, registry paths) are lower-cased; an email's
// recipient is part of its key because one message delivered to several mailboxes is several pieces of
// evidence. An entity without any identifier gets <kind>:sha256:<16 hex digits> of its details.
func (e Entity) Key() string {
	switch e.Kind {
	case KindDevice:
		if d := e.Device; d != nil {
			switch {
			case d.MdeDeviceID != "":
				return "device:mde:" + lower(d.MdeDeviceID)
			case d.AzureADDeviceID != "":
				return "device:aad:" + lower(d.AzureADDeviceID)
			case d.DNSName != "":
				return "device:dns:" + lower(d.DNSName)
			}
		}
	case KindUser:
		if u := e.User; u != nil {
			switch {
			case u.AzureADUserID != "":
				return "user:aad:" + lower(u.AzureADUserID)
			case u.UserPrincipalName != "":
				return "user:upn:" + lower(u.UserPrincipalName)
			case u.UserSID != "":
				return "user:sid:" + u.UserSID
			case u.AccountName != "":
				return "user:account:" + lower(u.DomainName) + `\` + lower(u.AccountName)
			}
		}
	case KindMailbox:
		if m := e.Mailbox; m != nil && m.PrimaryAddress != "" {
			return "mailbox:" + lower(m.PrimaryAddress)
		}
	case KindAnalyzedMessage:
		if m := e.AnalyzedMessage; m != nil {
			recipient := ""
			if m.RecipientEmailAddress != "" {
				recipient = ":" + lower(m.RecipientEmailAddress)
			}
			switch {
			case m.NetworkMessageID != "":
				return "email:" + lower(m.NetworkMessageID) + recipient
			case m.InternetMessageID != "":
				return "email:imid:" + m.InternetMessageID + recipient
			}
		}
	case KindFile:
		if f := e.File; f != nil {
			switch {
			case f.SHA256 != "":
				return "file:sha256:" + lower(f.SHA256)
			case f.SHA1 != "":
				return "file:sha1:" + lower(f.SHA1)
			case f.FileName != "":
				return "file:name:" + lower(f.FilePath) + `\` + lower(f.FileName)
			}
		}
	case KindProcess:
		if p := e.Process; p != nil && p.ProcessID > 0 {
			created := ""
			if !p.CreatedAt.IsZero() {
				created = p.CreatedAt.UTC().Format(time.RFC3339Nano)
			}
			return "process:" + lower(p.MdeDeviceID) + ":" + strconv.FormatInt(p.ProcessID, 10) + ":" + created
		}
	case KindIP:
		if ip := e.IP; ip != nil && ip.Address != "" {
			if addr, err := netip.ParseAddr(ip.Address); err == nil {
				return "ip:" + addr.Unmap().String()
			}
			return "ip:" + ip.Address
		}
	case KindURL:
		if u := e.URL; u != nil && u.URL != "" {
			return "url:" + u.URL
		}
	case KindOAuthApplication:
		if o := e.OAuthApplication; o != nil && o.AppID != "" {
			return "oauth:" + lower(o.AppID)
		}
	case KindCloudApplication:
		if c := e.CloudApplication; c != nil && c.AppID != 0 {
			return "cloudApp:" + strconv.FormatInt(c.AppID, 10) + ":" + strconv.FormatInt(c.InstanceID, 10)
		}
	case KindRegistryKey:
		if r := e.RegistryKey; r != nil && r.Key != "" {
			return "registryKey:" + lower(r.Hive) + `\` + lower(r.Key)
		}
	case KindRegistryValue:
		if r := e.RegistryValue; r != nil && r.Key != "" {
			return "registryValue:" + lower(r.MdeDeviceID) + ":" + lower(r.Hive) + `\` + lower(r.Key) + ":" + lower(r.ValueName)
		}
	case KindSecurityGroup:
		if g := e.SecurityGroup; g != nil && g.SecurityGroupID != "" {
			return "securityGroup:" + lower(g.SecurityGroupID)
		}
	case KindMailCluster:
		if m := e.MailCluster; m != nil && m.ClusterBy != "" && m.ClusterByValue != "" {
			return "mailCluster:" + m.ClusterBy + ":" + m.ClusterByValue
		}
	case KindGeneric:
		if g := e.Generic; g != nil {
			return "generic:" + g.Type + ":" + shortHash(g.Properties)
		}
	}
	return string(e.Kind) + ":sha256:" + shortHash(e.detail())
}

// detail returns the entity's detail object for the kind, or the entity itself when it has none.
func (e Entity) detail() any {
	switch e.Kind {
	case KindDevice:
		return e.Device
	case KindUser:
		return e.User
	case KindMailbox:
		return e.Mailbox
	case KindAnalyzedMessage:
		return e.AnalyzedMessage
	case KindFile:
		return e.File
	case KindProcess:
		return e.Process
	case KindIP:
		return e.IP
	case KindURL:
		return e.URL
	case KindOAuthApplication:
		return e.OAuthApplication
	case KindCloudApplication:
		return e.CloudApplication
	case KindRegistryKey:
		return e.RegistryKey
	case KindRegistryValue:
		return e.RegistryValue
	case KindSecurityGroup:
		return e.SecurityGroup
	case KindMailCluster:
		return e.MailCluster
	case KindGeneric:
		return e.Generic
	}
	return e
}

// shortHash returns the first 16 hex digits of the SHA-256 of v's canonical JSON (encoding/json writes
// struct fields in order and map keys sorted).
func shortHash(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(fmt.Sprint(v)) // values JSON cannot hold, like NaN; fmt prints maps sorted too
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

func lower(s string) string { return strings.ToLower(s) }

// Name returns a short name of the entity for people: a device's DNS name, a user's UPN, a mailbox's
// address, an email's subject, a file's name, and so on; the key when the entity has no name. The name is
// outside input (an email subject is the attacker's): escape it for where it is shown.
func (e Entity) Name() string {
	var candidates []string
	switch e.Kind {
	case KindDevice:
		if d := e.Device; d != nil {
			candidates = []string{d.DNSName, d.MdeDeviceID, d.AzureADDeviceID}
		}
	case KindUser:
		if u := e.User; u != nil {
			candidates = []string{u.UserPrincipalName, accountName(u), u.DisplayName, u.AzureADUserID, u.UserSID}
		}
	case KindMailbox:
		if m := e.Mailbox; m != nil {
			candidates = []string{m.PrimaryAddress, m.DisplayName}
		}
	case KindAnalyzedMessage:
		if m := e.AnalyzedMessage; m != nil {
			candidates = []string{m.Subject, m.NetworkMessageID, m.InternetMessageID}
		}
	case KindFile:
		if f := e.File; f != nil {
			candidates = []string{f.FileName, f.SHA256, f.SHA1}
		}
	case KindProcess:
		if p := e.Process; p != nil {
			image := ""
			if p.ImageFile != nil {
				image = p.ImageFile.FileName
			}
			switch {
			case image != "" && p.ProcessID > 0:
				candidates = []string{fmt.Sprintf("%s (pid %d)", image, p.ProcessID)}
			case p.ProcessID > 0:
				candidates = []string{fmt.Sprintf("pid %d", p.ProcessID)}
			}
			candidates = append(candidates, image, p.CommandLine)
		}
	case KindIP:
		if ip := e.IP; ip != nil {
			candidates = []string{ip.Address}
		}
	case KindURL:
		if u := e.URL; u != nil {
			candidates = []string{u.URL}
		}
	case KindOAuthApplication:
		if o := e.OAuthApplication; o != nil {
			candidates = []string{o.DisplayName, o.AppID, o.ObjectID}
		}
	case KindCloudApplication:
		if c := e.CloudApplication; c != nil {
			candidates = []string{c.DisplayName, c.InstanceName}
		}
	case KindRegistryKey:
		if r := e.RegistryKey; r != nil && r.Key != "" {
			candidates = []string{joinNonEmpty(`\`, r.Hive, r.Key)}
		}
	case KindRegistryValue:
		if r := e.RegistryValue; r != nil && r.Key != "" {
			candidates = []string{joinNonEmpty(`\`, r.Hive, r.Key, r.ValueName)}
		}
	case KindSecurityGroup:
		if g := e.SecurityGroup; g != nil {
			candidates = []string{g.DisplayName, g.SecurityGroupID}
		}
	case KindMailCluster:
		if m := e.MailCluster; m != nil {
			if m.ClusterBy != "" && m.ClusterByValue != "" {
				candidates = []string{m.ClusterBy + ": " + m.ClusterByValue}
			}
			candidates = append(candidates, m.Query)
		}
	case KindGeneric:
		if g := e.Generic; g != nil {
			candidates = []string{strings.TrimPrefix(g.Type, graphEvidencePrefix)}
		}
	}
	for _, c := range candidates {
		if c != "" {
			return c
		}
	}
	return e.Key()
}

// accountName renders DOMAIN\name, or name alone.
func accountName(u *UserAccount) string {
	if u.AccountName == "" {
		return ""
	}
	return joinNonEmpty(`\`, u.DomainName, u.AccountName)
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// Entities returns the distinct entities of the incident across its alerts, ordered by Key. Entities with
// the same key are merged: the first occurrence (in alert order) gives the details, roles, detailed roles
// and tags are united, and the highest verdict is kept (malicious > suspicious > unknown >
// noThreatsFound). The lists of the returned entities are copies; the detail objects are shared with the
// incident.
func (i *Incident) Entities() []Entity {
	type keyed struct {
		key    string
		entity Entity
	}
	var distinct []keyed
	index := map[string]int{}
	for _, a := range i.Alerts {
		for _, e := range a.Entities {
			key := e.Key()
			k, seen := index[key]
			if !seen {
				e.Roles = slices.Clone(e.Roles)
				e.DetailedRoles = slices.Clone(e.DetailedRoles)
				e.Tags = slices.Clone(e.Tags)
				index[key] = len(distinct)
				distinct = append(distinct, keyed{key, e})
				continue
			}
			merged := &distinct[k].entity
			fillDetails(merged, &e)
			merged.Roles = union(merged.Roles, e.Roles)
			merged.DetailedRoles = union(merged.DetailedRoles, e.DetailedRoles)
			merged.Tags = union(merged.Tags, e.Tags)
			if e.Verdict.Rank() > merged.Verdict.Rank() {
				merged.Verdict = e.Verdict
			}
		}
	}
	slices.SortFunc(distinct, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	entities := make([]Entity, len(distinct))
	for k, d := range distinct {
		entities[k] = d.entity
	}
	return entities
}

// fillDetails gives merged the details another appearance of the entity has and it lacks: a file's
// device in one alert and not in another, a device's DNS name. merged's first value of each field stands.
// The details merged points to belong to an alert, so a detail it fills is a copy.
func fillDetails(merged, more *Entity) {
	m, o := reflect.ValueOf(merged).Elem(), reflect.ValueOf(more).Elem()
	if merged.CreatedAt.IsZero() {
		merged.CreatedAt = more.CreatedAt
	}
	if merged.RemediationStatus == "" {
		merged.RemediationStatus = more.RemediationStatus
	}
	for i := range m.NumField() {
		mf, of := m.Field(i), o.Field(i)
		if mf.Kind() != reflect.Pointer || of.IsNil() {
			continue
		}
		if mf.IsNil() {
			mf.Set(cloneDetail(of))
			continue
		}
		if lacks(mf.Elem(), of.Elem()) {
			c := cloneDetail(mf)
			fillStruct(c.Elem(), of.Elem())
			mf.Set(c)
		}
	}
}

// lacks reports whether dst has a zero field that src has set, at any depth of pointed-to structs.
func lacks(dst, src reflect.Value) bool {
	for i := range dst.NumField() {
		df, sf := dst.Field(i), src.Field(i)
		switch {
		case sf.IsZero():
		case df.IsZero():
			return true
		case df.Kind() == reflect.Pointer && df.Elem().Kind() == reflect.Struct && lacks(df.Elem(), sf.Elem()):
			return true
		}
	}
	return false
}

// fillStruct sets dst's zero fields from src; dst is a copy of its own.
func fillStruct(dst, src reflect.Value) {
	for i := range dst.NumField() {
		df, sf := dst.Field(i), src.Field(i)
		switch {
		case sf.IsZero():
		case df.IsZero():
			df.Set(cloneDetail(sf))
		case df.Kind() == reflect.Pointer && df.Elem().Kind() == reflect.Struct && lacks(df.Elem(), sf.Elem()):
			c := cloneDetail(df)
			fillStruct(c.Elem(), sf.Elem())
			df.Set(c)
		}
	}
}

// cloneDetail copies v one level deep: a pointed-to struct and a slice get their own storage.
func cloneDetail(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		return reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()), v)
	}
	return v
}

// union appends to list the values of more it does not have yet.
func union[T comparable](list, more []T) []T {
	for _, v := range more {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// Techniques returns the MITRE ATT&CK technique ids of all alerts, sorted and without repeats.
func (i *Incident) Techniques() []string {
	var techniques []string
	for _, a := range i.Alerts {
		techniques = append(techniques, a.MitreTechniques...)
	}
	slices.Sort(techniques)
	return slices.Compact(techniques)
}
