package lineproto

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// now is the server time the table cases parse with.
const now = int64(1_700_000_000_123_456_789)

// pt builds an expected point; tags are key, value pairs.
func pt(m string, tags []string, t int64, fields ...models.Field) models.Point {
	p := models.Point{Measurement: m, Fields: fields, Time: t}
	for i := 0; i+1 < len(tags); i += 2 {
		p.Tags = append(p.Tags, models.Tag{Key: tags[i], Value: tags[i+1]})
	}
	return p
}

func kv(s ...string) []string { return s }

var (
	fl = models.FloatField
	in = models.IntegerField
	un = models.UnsignedField
	st = models.StringField
	bo = models.BooleanField
)

func unable(line, reason string) string { return "unable to parse '" + line + "': " + reason }

// parseCase is one body, parsed with the given precision at time now, and
// the points and error text it must give.
type parseCase struct {
	name      string
	in        string
	precision int64 // 0 means nanoseconds
	want      []models.Point
	err       string // the whole Error() text, "" for none
}

// parseCases covers InfluxDB's documented examples and every rule of the
// grammar; FuzzParse starts from their inputs.
func parseCases() []parseCase {
	maxF := strconv.FormatFloat(math.MaxFloat64, 'f', 1, 64)
	longName := strings.Repeat("m", MaxKeyLength+1)
	nearName := strings.Repeat("m", MaxKeyLength-5)
	return []parseCase{
		// InfluxDB's documented examples (line protocol reference, 1.8).
		{name: "doc basic", in: `weather,location=us-midwest temperature=82 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc two tags", in: `weather,location=us-midwest,season=summer temperature=82 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest", "season", "summer"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc no tags", in: `weather temperature=82 1465839830100400200`,
			want: []models.Point{pt("weather", nil, 1465839830100400200, fl("temperature", 82))}},
		{name: "doc two fields", in: `weather,location=us-midwest temperature=82,bug_concentration=98 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, fl("temperature", 82), fl("bug_concentration", 98))}},
		{name: "doc no timestamp", in: `weather,location=us-midwest temperature=82`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), now, fl("temperature", 82))}},
		{name: "doc integer", in: `weather,location=us-midwest temperature=82i 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, in("temperature", 82))}},
		{name: "doc string", in: `weather,location=us-midwest temperature="too warm" 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, st("temperature", "too warm"))}},
		{name: "doc boolean", in: `weather,location=us-midwest too_hot=true 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, bo("too_hot", true))}},
		{name: "doc precision s", in: `weather,location=us-midwest temperature=82 1465839830`, precision: 1e9,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830000000000, fl("temperature", 82))}},
		{name: "doc escaped comma in tag value", in: `weather,location=us\,midwest temperature=82 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us,midwest"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc escaped equals in field key", in: `weather,location=us-midwest temp\=rature=82 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, fl("temp=rature", 82))}},
		{name: "doc escaped space in tag key", in: `weather,location\ place=us-midwest temperature=82 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location place", "us-midwest"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc escaped comma in measurement", in: `wea\,ther,location=us-midwest temperature=82 1465839830100400200`,
			want: []models.Point{pt("wea,ther", kv("location", "us-midwest"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc escaped space in measurement", in: `wea\ ther,location=us-midwest temperature=82 1465839830100400200`,
			want: []models.Point{pt("wea ther", kv("location", "us-midwest"), 1465839830100400200, fl("temperature", 82))}},
		{name: "doc escaped quotes in string", in: `weather,location=us-midwest temperature="too\"hot\"" 1465839830100400200`,
			want: []models.Point{pt("weather", kv("location", "us-midwest"), 1465839830100400200, st("temperature", `too"hot"`))}},
		{name: "doc backslashes in string", in: `weather temperature_str="too hot\cold",a="too hot\\cold",b="too hot\\\cold",c="too hot\\\\cold",d="too hot\\\\\cold" 1`,
			want: []models.Point{pt("weather", nil, 1, st("temperature_str", `too hot\cold`), st("a", `too hot\cold`),
				st("b", `too hot\\cold`), st("c", `too hot\\cold`), st("d", `too hot\\\cold`))}},
		{name: "doc all booleans", in: `cpu true=true,t=t,T=T,TRUE=TRUE,True=True,false=false,f=f,F=F,FALSE=FALSE,False=False 1000000000`,
			want: []models.Point{pt("cpu", nil, 1000000000, bo("true", true), bo("t", true), bo("T", true), bo("TRUE", true), bo("True", true),
				bo("false", false), bo("f", false), bo("F", false), bo("FALSE", false), bo("False", false))}},

		// Measurement, tag and field-key escapes (InfluxDB's TestParsePointUnescape).
		{name: "equals in measurement is literal", in: `cpu=load,region=east value=1.0`,
			want: []models.Point{pt("cpu=load", kv("region", "east"), now, fl("value", 1))}},
		{name: "escaped equals in measurement", in: `cpu\=load value=1`,
			want: []models.Point{pt("cpu=load", nil, now, fl("value", 1))}},
		{name: "tag key with escaped comma", in: `cpu,region\,zone=east value=1.0`,
			want: []models.Point{pt("cpu", kv("region,zone", "east"), now, fl("value", 1))}},
		{name: "backslash then escaped equals in tag key", in: `cpu,reg\\=ion=east value=1.0`,
			want: []models.Point{pt("cpu", kv(`reg\=ion`, "east"), now, fl("value", 1))}},
		{name: "tag key is a space", in: `cpu,\ =east value=1.0`,
			want: []models.Point{pt("cpu", kv(" ", "east"), now, fl("value", 1))}},
		{name: "backslash then escaped space in tag value", in: `cpu,regions=\\ east value=1.0`,
			want: []models.Point{pt("cpu", kv("regions", `\ east`), now, fl("value", 1))}},
		{name: "backslash then trailing space in tag value", in: `cpu,regions=east\\  value=1.0`,
			want: []models.Point{pt("cpu", kv("regions", `east\ `), now, fl("value", 1))}},
		{name: "escaped space in tag value", in: `cpu,regions=east\ west value=1.0`,
			want: []models.Point{pt("cpu", kv("regions", "east west"), now, fl("value", 1))}},
		{name: "other escape kept", in: `cpu,regions=eas\t value=1.0`,
			want: []models.Point{pt("cpu", kv("regions", `eas\t`), now, fl("value", 1))}},
		{name: "backslash literal then escapes", in: `cpu,regions=\\,\,\=east value=1.0`,
			want: []models.Point{pt("cpu", kv("regions", `\,,=east`), now, fl("value", 1))}},
		{name: "tag key and value with escaped equals", in: `cpu=load,equals\=foo=tag\=value value=1i`,
			want: []models.Point{pt("cpu=load", kv("equals=foo", "tag=value"), now, in("value", 1))}},
		{name: "comma in field key", in: `cpu,regions=east value\,ms=1.0`,
			want: []models.Point{pt("cpu", kv("regions", "east"), now, fl("value,ms", 1))}},
		{name: "space in field key", in: `cpu value\ ms=1.0,a\ =2`,
			want: []models.Point{pt("cpu", nil, now, fl("value ms", 1), fl("a ", 2))}},
		{name: "unknown escape in field key", in: `cpu \a=1i`,
			want: []models.Point{pt("cpu", nil, now, in(`\a`, 1))}},
		{name: "quoted measurement and tags are literal", in: `"cpu","host"="serverA" value=1.0 1000000000`,
			want: []models.Point{pt(`"cpu"`, kv(`"host"`, `"serverA"`), 1000000000, fl("value", 1))}},
		{name: "tag value starting with equals", in: `cpu,host==a value=1`,
			want: []models.Point{pt("cpu", kv("host", "=a"), now, fl("value", 1))}},
		{name: "utf-8", in: `cpu,hôst=sérveur valüe="wè" 1`,
			want: []models.Point{pt("cpu", kv("hôst", "sérveur"), 1, st("valüe", "wè"))}},
		{name: "NUL inside names", in: "cpu,tag\x001=v0,tag0=\x00 val\x00ue=1 1",
			want: []models.Point{pt("cpu", kv("tag\x001", "v0", "tag0", "\x00"), 1, fl("val\x00ue", 1))}},

		// Tags are sorted; duplicates are rejected.
		{name: "unsorted tags", in: `cpu,region=us-west,host=serverA,env=prod value=1i 1`,
			want: []models.Point{pt("cpu", kv("env", "prod", "host", "serverA", "region", "us-west"), 1, in("value", 1))}},
		{name: "many unsorted tags", in: `m,t9=x,t8=x,t7=x,t6=x,t5=x,t4=x,t3=x,t2=x,t1=x,t0=x,ta=x,tb=x,tc=x,td=x v=0 1`,
			want: []models.Point{pt("m", kv("t0", "x", "t1", "x", "t2", "x", "t3", "x", "t4", "x", "t5", "x", "t6", "x", "t7", "x", "t8", "x", "t9", "x",
				"ta", "x", "tb", "x", "tc", "x", "td", "x"), 1, fl("v", 0))}},
		{name: "duplicate tags", in: `cpu,host=serverA,host=serverB value=1i 1000000000`,
			err: unable(`cpu,host=serverA,host=serverB value=1i 1000000000`, "duplicate tags")},
		{name: "duplicate tags unsorted", in: `cpu,b=2,c=3,b=1 value=1i 1000000000`,
			err: unable(`cpu,b=2,c=3,b=1 value=1i 1000000000`, "duplicate tags")},
		{name: "duplicate tags after unescaping", in: `cpu,a\ =1,a\ =2 v=1`,
			err: unable(`cpu,a\ =1,a\ =2 v=1`, "duplicate tags")},

		// Field values.
		{name: "floats", in: `cpu a=1,b=-1.5,c=.1,d=1.,e=1e4,f=1E4,g=1.0e-4,h=-1.0e-4,i=1e+5,j=-0,k=0.000001,l=123456789012345678901234`,
			want: []models.Point{pt("cpu", nil, now, fl("a", 1), fl("b", -1.5), fl("c", .1), fl("d", 1), fl("e", 1e4), fl("f", 1e4),
				fl("g", 1e-4), fl("h", -1e-4), fl("i", 1e5), fl("j", math.Copysign(0, -1)), fl("k", 0.000001), fl("l", 123456789012345678901234))}},
		{name: "max float", in: `cpu value=` + maxF + `,min=-` + maxF + `,lead=0000` + maxF,
			want: []models.Point{pt("cpu", nil, now, fl("value", math.MaxFloat64), fl("min", -math.MaxFloat64), fl("lead", math.MaxFloat64))}},
		{name: "integers", in: `cpu a=1i,b=-1i,c=9223372036854775807i,d=-9223372036854775808i,e=0009223372036854775807i,f=-0009223372036854775808i`,
			want: []models.Point{pt("cpu", nil, now, in("a", 1), in("b", -1), in("c", math.MaxInt64), in("d", math.MinInt64),
				in("e", math.MaxInt64), in("f", math.MinInt64))}},
		{name: "unsigned", in: `cpu a=0u,b=18446744073709551615u,c=00018446744073709551615u,d=42u`,
			want: []models.Point{pt("cpu", nil, now, un("a", 0), un("b", math.MaxUint64), un("c", math.MaxUint64), un("d", 42))}},
		{name: "strings", in: `cpu a="foo bar",b="1,0",c="foo=bar",d="{Hello\"{,}\" World}",e="foo\\",f="",g="foo\,bar"`,
			want: []models.Point{pt("cpu", nil, now, st("a", "foo bar"), st("b", "1,0"), st("c", "foo=bar"), st("d", `{Hello"{,}" World}`),
				st("e", `foo\`), st("f", ""), st("g", `foo\,bar`))}},
		{name: "string with newline", in: "cpu,host=serverA value=1.0,str=\"foo\nbar\" 1000000000\ncpu v=2 5",
			want: []models.Point{pt("cpu", kv("host", "serverA"), 1000000000, fl("value", 1), st("str", "foo\nbar")), pt("cpu", nil, 5, fl("v", 2))}},
		{name: "string with CRLF inside", in: "m s=\"a\r\nb\" 1\r\nm v=1 2\r\n",
			want: []models.Point{pt("m", nil, 1, st("s", "a\r\nb")), pt("m", nil, 2, fl("v", 1))}},
		{name: "duplicate field keys kept in order", in: `cpu a=1,a=2i`,
			want: []models.Point{pt("cpu", nil, now, fl("a", 1), in("a", 2))}},
		{name: "field and tag named time pass through", in: `cpu,time=x time=1`,
			want: []models.Point{pt("cpu", kv("time", "x"), now, fl("time", 1))}},
		{name: "measurement named time", in: `time value=1 1`,
			want: []models.Point{pt("time", nil, 1, fl("value", 1))}},
		{name: "unbalanced quote in tag value is literal", in: "baz,mytag=\"a x=1 1441103862125\nbaz,mytag=a z=1 1441103862126",
			want: []models.Point{pt("baz", kv("mytag", `"a`), 1441103862125, fl("x", 1)), pt("baz", kv("mytag", "a"), 1441103862126, fl("z", 1))}},

		// Timestamps and precision.
		{name: "negative timestamp", in: `cpu value=1 -1`, want: []models.Point{pt("cpu", nil, -1, fl("value", 1))}},
		{name: "min and max time", in: "cpu value=1 -9223372036854775806\ncpu value=2 9223372036854775806",
			want: []models.Point{pt("cpu", nil, MinNanoTime, fl("value", 1)), pt("cpu", nil, MaxNanoTime, fl("value", 2))}},
		{name: "precision ms", in: `cpu value=1 1700000000123`, precision: 1e6,
			want: []models.Point{pt("cpu", nil, 1700000000123000000, fl("value", 1))}},
		{name: "precision h", in: `cpu value=1 2`, precision: 3600e9,
			want: []models.Point{pt("cpu", nil, 2*3600e9, fl("value", 1))}},
		{name: "server time truncated to precision", in: `cpu value=1`, precision: 1e9,
			want: []models.Point{pt("cpu", nil, 1_700_000_000_000_000_000, fl("value", 1))}},
		{name: "server time truncated to u", in: `cpu value=1`, precision: 1e3,
			want: []models.Point{pt("cpu", nil, 1_700_000_000_123_456_000, fl("value", 1))}},
		{name: "time overflows precision", in: `cpu value=1 9223372037`, precision: 1e9,
			err: unable(`cpu value=1 9223372037`, "time outside range -9223372036854775806 - 9223372036854775806")},
		{name: "time above max", in: `cpu value=1 9223372036854775807`,
			err: unable(`cpu value=1 9223372036854775807`, "time outside range -9223372036854775806 - 9223372036854775806")},
		{name: "time below min", in: `cpu value=1 -9223372036854775808`,
			err: unable(`cpu value=1 -9223372036854775808`, "time outside range -9223372036854775806 - 9223372036854775806")},
		{name: "time too long", in: `cpu value=1 99999999999999999999`,
			err: unable(`cpu value=1 99999999999999999999`, `strconv.ParseInt: parsing "99999999999999999999": value out of range`)},
		{name: "time only minus", in: `cpu value=1 -`,
			err: unable(`cpu value=1 -`, `strconv.ParseInt: parsing "-": invalid syntax`)},
		{name: "bad timestamp", in: `cpu value=1 1a`, err: unable(`cpu value=1 1a`, "bad timestamp")},
		{name: "bad timestamp trailing backslash", in: `a v=1 0\`, err: unable(`a v=1 0\`, "bad timestamp")},
		{name: "float timestamp", in: `cpu value=1 1.5`, err: unable(`cpu value=1 1.5`, "bad timestamp")},
		{name: "junk after timestamp", in: `cpu value=1 1 2`, err: unable(`cpu value=1 1 2`, "point is invalid")},

		// Whitespace, comments, line ends.
		{name: "whitespace between sections", in: "cpu    value=1.0 1257894000000000000\ncpu value=1.0     1257894000000000000\ncpu value=1.0 1257894000000000000   \n  \tcpu value=1.0 1257894000000000000\n",
			want: []models.Point{pt("cpu", nil, 1257894000000000000, fl("value", 1)), pt("cpu", nil, 1257894000000000000, fl("value", 1)),
				pt("cpu", nil, 1257894000000000000, fl("value", 1)), pt("cpu", nil, 1257894000000000000, fl("value", 1))}},
		{name: "blank and comment lines", in: "\n   \n# a comment\n  # indented comment with a quote \"\ncpu v=1 1\n\t\n#\n",
			want: []models.Point{pt("cpu", nil, 1, fl("v", 1))}},
		{name: "CRLF", in: "cpu v=1 1\r\ncpu v=2\r\ncpu v=3i\r\n\r\ncpu s=\"x\"\r\n",
			want: []models.Point{pt("cpu", nil, 1, fl("v", 1)), pt("cpu", nil, now, fl("v", 2)), pt("cpu", nil, now, in("v", 3)), pt("cpu", nil, now, st("s", "x"))}},
		{name: "empty body", in: ""},
		{name: "only blanks", in: " "},
		{name: "tab instead of space", in: "cpu\tvalue=1", err: unable("cpu\tvalue=1", "missing fields")},
		{name: "leading NUL", in: "\x00,tag0=v0,tag1=v0 value=1", err: unable(",tag0=v0,tag1=v0 value=1", "missing measurement")},

		// Errors in the key.
		{name: "missing fields", in: "cpu", err: unable("cpu", "missing fields")},
		{name: "missing fields with tags", in: "cpu_load_short,host=server01,region=us-west", err: unable("cpu_load_short,host=server01,region=us-west", "missing fields")},
		{name: "missing fields double equals", in: "cpu,host==", err: unable("cpu,host==", "missing fields")},
		{name: "missing fields equals", in: "=", err: unable("=", "missing fields")},
		{name: "missing measurement", in: ",tag=a v=1", err: unable(",tag=a v=1", "missing measurement")},
		{name: "missing tag key", in: "cpu, value=1", err: unable("cpu, value=1", "missing tag key")},
		{name: "missing tag key at end", in: "cpu,", err: unable("cpu,", "missing tag key")},
		{name: "missing tag key commas", in: "cpu,,,", err: unable("cpu,,,", "missing tag key")},
		{name: "missing tag key equals", in: "cpu,host=serverA,=us-east value=1i", err: unable("cpu,host=serverA,=us-east value=1i", "missing tag key")},
		{name: "missing tag key after escaped comma", in: `cpu,host=serverA\,,=us-east value=1i`, err: unable(`cpu,host=serverA\,,=us-east value=1i`, "missing tag key")},
		{name: "missing tag value", in: "cpu,host", err: unable("cpu,host", "missing tag value")},
		{name: "missing tag value comma", in: "cpu,host,", err: unable("cpu,host,", "missing tag value")},
		{name: "missing tag value equals", in: "cpu,host=", err: unable("cpu,host=", "missing tag value")},
		{name: "missing tag value space", in: "cpu,host value=1i", err: unable("cpu,host value=1i", "missing tag value")},
		{name: "empty tag value", in: "cpu,host=serverA,region= value=1i", err: unable("cpu,host=serverA,region= value=1i", "missing tag value")},
		{name: "empty tag value comma", in: "cpu,host=serverA,region=,zone=us-west value=1i", err: unable("cpu,host=serverA,region=,zone=us-west value=1i", "missing tag value")},
		{name: "invalid tag format", in: "cpu,host=f=o,", err: unable("cpu,host=f=o,", "invalid tag format")},
		{name: "invalid tag format escaped", in: `cpu,host=f\==o,`, err: unable(`cpu,host=f\==o,`, "invalid tag format")},
		{name: "key too long", in: longName + " v=1", err: unable(longName+" v=1", "max key length exceeded: 65536 > 65535")},
		{name: "key too long with field", in: nearName + " ab=1,abc=2", err: unable(nearName+" ab=1,abc=2", "max key length exceeded: 65536 > 65535")},
		{name: "key just short enough", in: nearName + " a=1", want: []models.Point{pt(nearName, nil, now, fl("a", 1))}},

		// Errors in the fields.
		{name: "only a space after key", in: "cpu ", err: unable("cpu ", "invalid field format")},
		{name: "no equals", in: "cpu,host=server01,region=us-west 1434055562000000000i", err: unable("cpu,host=server01,region=us-west 1434055562000000000i", "invalid field format")},
		{name: "field without value", in: "cpu value=1i,b", err: unable("cpu value=1i,b", "invalid field format")},
		{name: "junk after string", in: `m f="blah"=123,r 1531703600000000000`, err: unable(`m f="blah"=123,r 1531703600000000000`, "invalid field format")},
		{name: "junk after string accepted by 1.8", in: `m f="a"b`, err: unable(`m f="a"b`, "invalid field format")},
		{name: "missing field key", in: "cpu =1", err: unable("cpu =1", "missing field key")},
		{name: "missing field key after tags", in: "cpu,host=serverA,region=us-west =123i", err: unable("cpu,host=serverA,region=us-west =123i", "missing field key")},
		{name: "missing second field key", in: "cpu value=123i,=456i", err: unable("cpu value=123i,=456i", "missing field key")},
		{name: "missing field key after tab", in: "cpu \t=1", err: unable("cpu \t=1", "missing field key")},
		{name: "missing field value", in: "cpu value=", err: unable("cpu value=", "missing field value")},
		{name: "missing field value space", in: "cpu value= 1000000000i", err: unable("cpu value= 1000000000i", "missing field value")},
		{name: "missing field value comma", in: "cpu value=,value2=1i", err: unable("cpu value=,value2=1i", "missing field value")},
		{name: "unbalanced quotes", in: `cpu,host=serverA value="test`, err: unable(`cpu,host=serverA value="test`, "unbalanced quotes")},
		{name: "unbalanced quotes three", in: `cpu,host=serverA value="test""`, err: unable(`cpu,host=serverA value="test""`, "unbalanced quotes")},
		{name: "unbalanced escaped quote", in: `cpu value="test\"`, err: unable(`cpu value="test\"`, "unbalanced quotes")},
		{name: "invalid boolean", in: "cpu value=a", err: unable("cpu value=a", "invalid boolean")},
		{name: "invalid boolean tru", in: "cpu value=tru", err: unable("cpu value=tru", "invalid boolean")},
		{name: "invalid boolean mixed case", in: "cpu value=TRue", err: unable("cpu value=TRue", "invalid boolean")},
		{name: "invalid boolean NUL", in: "cpu,tag0=v0 value=\x00", err: unable("cpu,tag0=v0 value=\x00", "invalid boolean")},
		{name: "Inf is a bad boolean", in: "cpu value=Inf", err: unable("cpu value=Inf", "invalid boolean")},
		{name: "minus Inf", in: "cpu value=-Inf", err: unable("cpu value=-Inf", "invalid number")},
		{name: "NaN", in: "cpu value=NaN", err: unable("cpu value=NaN", "invalid number")},
		{name: "nan", in: "cpu value=nan,b=1", err: unable("cpu value=nan,b=1", "invalid number")},
		{name: "only minus", in: "cpu v=-", err: unable("cpu v=-", "invalid number")},
		{name: "minus space", in: "cpu v=- ", err: unable("cpu v=- ", "invalid number")},
		{name: "minus i", in: "cpu v=-i ", err: unable("cpu v=-i ", "invalid number")},
		{name: "minus dot", in: "cpu v=-. ", err: unable("cpu v=-. ", "invalid number")},
		{name: "dot", in: "cpu v=. ", err: unable("cpu v=. ", "invalid number")},
		{name: "float with i", in: "cpu v=1.0i ", err: unable("cpu v=1.0i ", "invalid number")},
		{name: "double i", in: "cpu v=1ii ", err: unable("cpu v=1ii ", "invalid number")},
		{name: "letter", in: "cpu v=1a ", err: unable("cpu v=1a ", "invalid number")},
		{name: "exponents only", in: "cpu v=-e-e-e ", err: unable("cpu v=-e-e-e ", "invalid float")},
		{name: "plus inside", in: "cpu v=42+3 ", err: unable("cpu v=42+3 ", "invalid number")},
		{name: "negative unsigned", in: "cpu v=-123u", err: unable("cpu v=-123u", "invalid number")},
		{name: "two decimals", in: "cpu v=1.1.1", err: unable("cpu v=1.1.1", "invalid number")},
		{name: "minus after dot", in: "cpu v=0.-1", err: unable("cpu v=0.-1", "invalid number")},
		{name: "scientific int", in: "cpu v=9ie10", err: unable("cpu v=9ie10", "invalid number")},
		{name: "scientific int suffix", in: "cpu v=9e10i", err: unable("cpu v=9e10i", "invalid number")},
		{name: "digit after i", in: "cpu v=9i0", err: unable("cpu v=9i0", "invalid number")},
		{name: "bare exponent", in: "cpu v=1e", err: unable("cpu v=1e", "invalid float")},
		{name: "float overflow", in: "cpu v=1e400", err: unable("cpu v=1e400", "invalid float")},
		{name: "long float overflow", in: "cpu v=1" + maxF, err: unable("cpu v=1"+maxF, "invalid float")},
		{name: "int overflow", in: "cpu,host=serverA,region=us-west value=9223372036854775808i",
			err: unable("cpu,host=serverA,region=us-west value=9223372036854775808i", `unable to parse integer 9223372036854775808: strconv.ParseInt: parsing "9223372036854775808": value out of range`)},
		{name: "int underflow", in: "cpu value=-9223372036854775809i",
			err: unable("cpu value=-9223372036854775809i", `unable to parse integer -9223372036854775809: strconv.ParseInt: parsing "-9223372036854775809": value out of range`)},
		{name: "unsigned overflow", in: "cpu,host=serverA,region=us-west value=18446744073709551616u",
			err: unable("cpu,host=serverA,region=us-west value=18446744073709551616u", `unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing "18446744073709551616": value out of range`)},
		{name: "double minus unsigned", in: "cpu value=--1u", err: unable("cpu value=--1u", "invalid number")},
		{name: "first error in order", in: "cpu a=x,b=1.1.1", err: unable("cpu a=x,b=1.1.1", "invalid boolean")},
		{name: "value error before format error", in: "cpu a,b=x", err: unable("cpu a,b=x", "invalid boolean")},

		// Bad lines never stop good ones.
		{name: "bad lines between good", in: "cpu v=1 1\ncpu v= 2\ncpu v=3 3\nbad\ncpu v=5 5",
			want: []models.Point{pt("cpu", nil, 1, fl("v", 1)), pt("cpu", nil, 3, fl("v", 3)), pt("cpu", nil, 5, fl("v", 5))},
			err:  unable("cpu v= 2", "missing field value") + "\n" + unable("bad", "missing fields")},
		{name: "unbalanced quote does not swallow next lines", in: "m s=\"abc\nm v=1 5\nm v=2 6\n",
			want: []models.Point{pt("m", nil, 5, fl("v", 1)), pt("m", nil, 6, fl("v", 2))},
			err:  unable(`m s="abc`, "unbalanced quotes")},
		{name: "comment with quote does not swallow next line", in: "# x=\"\nm v=1 5\n",
			want: []models.Point{pt("m", nil, 5, fl("v", 1))}},
	}
}

func TestParse(t *testing.T) {
	var p Parser
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			prec := c.precision
			if prec == 0 {
				prec = 1
			}
			got, err := p.Parse(nil, []byte(c.in), now, prec)
			if !equalPoints(got, c.want) {
				t.Errorf("points:\n got %s\nwant %s", dumpPoints(got), dumpPoints(c.want))
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != c.err {
				t.Errorf("error:\n got %q\nwant %q", gotErr, c.err)
			}
		})
	}
}

func TestParseErrorLines(t *testing.T) {
	body := "good v=1\nbad\n# comment\nm s=\"two\nlines\" 1\n\nalso bad=\r\nm v=2\n"
	var p Parser
	pts, err := p.Parse(nil, []byte(body), now, 1)
	if len(pts) != 3 {
		t.Fatalf("got %d points, want 3: %s", len(pts), dumpPoints(pts))
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError", err)
	}
	want := []LineError{
		{Line: 2, Text: "bad", Reason: "missing fields"},
		{Line: 7, Text: "also bad=", Reason: "missing field value"},
	}
	if !reflect.DeepEqual(pe.Lines, want) {
		t.Errorf("lines = %+v, want %+v", pe.Lines, want)
	}
	if pe.Dropped() != 2 {
		t.Errorf("Dropped() = %d, want 2", pe.Dropped())
	}
}

func TestParseErrorBounded(t *testing.T) {
	body := strings.Repeat("x\n", MaxLineErrors+10) + "m v=1 1\n"
	var p Parser
	pts, err := p.Parse(nil, []byte(body), now, 1)
	if len(pts) != 1 {
		t.Fatalf("got %d points, want 1", len(pts))
	}
	pe := err.(*ParseError)
	if len(pe.Lines) != MaxLineErrors || pe.More != 10 || pe.Dropped() != MaxLineErrors+10 {
		t.Fatalf("lines %d more %d dropped %d", len(pe.Lines), pe.More, pe.Dropped())
	}
	if !strings.HasSuffix(pe.Error(), "\nand 10 more bad lines") {
		t.Errorf("error does not end with the count of unlisted lines: %q", pe.Error()[len(pe.Error())-60:])
	}
}

// TestParseManyLoneQuotes guards against quadratic work: every line opens
// a string that only the end of the body would close.
func TestParseManyLoneQuotes(t *testing.T) {
	body := strings.Repeat("m s=\"x\n", 100_000) + "m v=1 1\n"
	var p Parser
	pts, err := p.Parse(nil, []byte(body), now, 1)
	if len(pts) != 1 || err.(*ParseError).Dropped() != 100_000 {
		t.Fatalf("got %d points, error %.100v", len(pts), err)
	}
}

// TestParseReuse checks the documented ownership: strings survive the
// body being overwritten, and a Parser's buffers serve the next call.
func TestParseReuse(t *testing.T) {
	var p Parser
	body := []byte("cpu,host=a v=1 1\n")
	pts, err := p.Parse(nil, body, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	copy(body, "XXXXXXXXXXXXXXXX")
	if pts[0].Measurement != "cpu" || pts[0].Tags[0].Value != "a" {
		t.Fatalf("strings changed with the body: %+v", pts[0])
	}
	// Appending to one point's slices must not clobber the next point.
	pts, _ = p.Parse(pts[:0], []byte("a,x=1 f=1\nb,y=2 g=2\n"), now, 1)
	pts[0].Tags = append(pts[0].Tags, models.Tag{Key: "z", Value: "3"})
	pts[0].Fields = append(pts[0].Fields, models.FloatField("h", 3))
	if pts[1].Tags[0].Key != "y" || pts[1].Fields[0].Key != "g" {
		t.Fatalf("append to point 0 overwrote point 1: %+v", pts[1])
	}
}

// TestParseGrowth parses more tags and fields than the initial buffers
// hold, in one line and over many lines.
func TestParseGrowth(t *testing.T) {
	var b strings.Builder
	b.WriteString("wide")
	for i := range 3000 {
		fmt.Fprintf(&b, ",t%04d=v", i)
	}
	b.WriteString(" ")
	for i := range 5000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "f%d=%di", i, i)
	}
	b.WriteString(" 1\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "m,a=%d,b=x f=%d,g=2 %d\n", i, i, i)
	}
	var p Parser
	pts, err := p.Parse(nil, []byte(b.String()), now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3001 || len(pts[0].Tags) != 3000 || len(pts[0].Fields) != 5000 {
		t.Fatalf("got %d points, %d tags, %d fields", len(pts), len(pts[0].Tags), len(pts[0].Fields))
	}
	if pts[0].Tags[2999].Key != "t2999" || pts[0].Fields[4999].Integer() != 4999 {
		t.Fatalf("wide point wrong: %v %v", pts[0].Tags[2999], pts[0].Fields[4999])
	}
	for i, q := range pts[1:] {
		if q.Tags[0].Value != strconv.Itoa(i) || q.Fields[0].Float() != float64(i) || q.Time != int64(i) {
			t.Fatalf("point %d wrong: %s", i+1, dumpPoints([]models.Point{q}))
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for in, want := range map[string]int64{"": 1, "n": 1, "ns": 1, "u": 1e3, "us": 1e3, "µ": 1e3, "μ": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9} {
		got, err := ParsePrecision(in)
		if err != nil || got != want {
			t.Errorf("ParsePrecision(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "S", "d", "mss"} {
		_, err := ParsePrecision(in)
		want := fmt.Sprintf("invalid precision %q (use n, u, ms, s, m or h)", in)
		if err == nil || err.Error() != want {
			t.Errorf("ParsePrecision(%q) error = %v; want %s", in, err, want)
		}
	}
}

// equalPoints compares points field by field; float values compare by
// bits, so -0 and 0 differ.
func equalPoints(a, b []models.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Measurement != y.Measurement || x.Time != y.Time || len(x.Tags) != len(y.Tags) || len(x.Fields) != len(y.Fields) {
			return false
		}
		for j := range x.Tags {
			if x.Tags[j] != y.Tags[j] {
				return false
			}
		}
		for j := range x.Fields {
			if x.Fields[j] != y.Fields[j] {
				return false
			}
		}
	}
	return true
}

func dumpPoints(pts []models.Point) string {
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "\n  %q tags=[", p.Measurement)
		for _, t := range p.Tags {
			fmt.Fprintf(&b, " %q=%q", t.Key, t.Value)
		}
		b.WriteString(" ] fields=[")
		for _, f := range p.Fields {
			fmt.Fprintf(&b, " %q=%s:%s", f.Key, f.Type, AppendFieldValue(nil, &f))
		}
		fmt.Fprintf(&b, " ] time=%d", p.Time)
	}
	return b.String()
}
