# A Tcl program using tcl-xmlrpc 0.3 (Debian tcl-xmlrpc), as a Tcl/Expect
# automation script uses it.
#
# Usage: tclsh tcl_xmlrpc_client.tcl URL A B NAME LARGE_COUNT MARKUP
# Prints one JSON object per call. Parameters are {type value} pairs; a struct
# is the name of a Tcl array. Results are untyped Tcl lists (a struct is a
# list of {name value} pairs), so each call says the shape it expects back.
# The library returns a <fault> as an ordinary struct result, posts
# HTTP/1.0 to /PATH with no Host header, and counts Content-Length in
# characters.

package require xmlrpc

lassign $argv url a b name large markup
if {$markup eq ""} {
    puts stderr "usage: tclsh tcl_xmlrpc_client.tcl URL A B NAME LARGE_COUNT MARKUP"
    exit 2
}
regexp {^(http://[^/]+)/(.*)$} $url -> server path
fconfigure stdout -encoding utf-8

proc json_string {text} {
    set out ""
    foreach char [split $text ""] {
        scan $char %c code
        if {$char eq "\"" || $char eq "\\"} {
            append out "\\$char"
        } elseif {$code < 32} {
            append out [format "\\u%04x" $code]
        } else {
            append out $char
        }
    }
    return "\"$out\""
}

# A Tcl value as JSON, by shape: n number, s string, b boolean, {list SHAPE...}
# an array (the last shape repeats), {dict NAME SHAPE...} a struct.
proc json {shape value} {
    switch -- [lindex $shape 0] {
        n { return [expr {$value}] }
        b { return [expr {$value ? "true" : "false"}] }
        s { return [json_string $value] }
        list {
            set shapes [lrange $shape 1 end]
            set items {}
            foreach item $value {
                lappend items [json [lindex $shapes [expr {min([llength $items],
                                                                 [llength $shapes] - 1)}]] $item]
            }
            return "\[[join $items ,]\]"
        }
        dict {
            set members {}
            foreach pair $value {
                lassign $pair key item
                set member_shape s
                if {[dict exists [lrange $shape 1 end] $key]} {
                    set member_shape [dict get [lrange $shape 1 end] $key]
                }
                lappend members "[json_string $key]:[json $member_shape $item]"
            }
            return "\{[join $members ,]\}"
        }
    }
}

proc report {label body} {
    puts "{\"call\":[json_string $label],$body}"
    flush stdout
}

# The library answers (leftover text, value); a <fault> comes back as a struct
# value like any other, so the caller looks for faultCode in every answer.
proc answer {reply} {
    set value [lindex $reply 1]
    if {[llength $value] == 2 && [lindex $value 0 0] eq "faultCode"} {
        return -code error -errorcode XMLRPC_FAULT $value
    }
    return $value
}

proc unescape {text} {
    return [string map {&lt; < &gt; > &quot; \" &apos; ' &amp; &} $text]
}

# One call; prints its result in SHAPE, its fault, or the error the library raised.
proc call {label shape method params} {
    global server path
    if {[catch {answer [xmlrpc::call $server $path $method $params]} result options]} {
        if {[dict get $options -errorcode] eq "XMLRPC_FAULT"} {
            set fault [json {dict faultCode n faultString s} $result]
            set fault [string map {faultCode code faultString message} $fault]
            report $label "\"fault\":$fault,\"native\":\"struct with faultCode\""
        } else {
            report $label "\"error\":[json_string "xmlrpc::call failed: $result"]"
        }
        return ""
    }
    if {[catch {report $label "\"result\":[json $shape $result]"} problem]} {
        report $label "\"error\":[json_string "unexpected reply $result: $problem"]"
    }
    return $result
}

call add n add [list [list int $a] [list int $b]]
call subtract n subtract [list [list int $a] [list int $b]]
call divide n divide [list [list int $a] [list int $b]]
call divide_by_zero n divide [list [list int $a] [list int 0]]
call hello s hello [list [list string $name]]
# An ASCII request (character references) still gets a UTF-8 reply, which the
# library waits for until the connection closes, counting characters.
set references ""
foreach char [split $name ""] {
    scan $char %c code
    append references [expr {$code < 128 ? $char : "&#$code;"}]
}
call hello_references s hello [list [list string $references]]
# The library counts Content-Length in characters, of requests and of replies.
# A caller makes characters bytes: ISO 8859-1 sockets, UTF-8 encoded strings.
encoding system iso8859-1
set hello [call hello_bytes_native s hello [list [list string [encoding convertto utf-8 $name]]]]
report hello_bytes "\"result\":[json_string [encoding convertfrom utf-8 $hello]]"
call ping_markup s ping [list [list string $markup]]
# Strings go out unescaped and come back undecoded: the caller does both.
set echoed [call ping_markup_escaped_native s ping \
    [list [list string [string map {& &amp; < &lt; > &gt;} $markup]]]]
report ping_markup_escaped "\"result\":[json_string [unescape $echoed]]"

array set nested {real {double 2.5}}
array set data [list number [list int $a] text {string plain} \
    list [list array [list [list int $a] [list int $b] {string three}]] nested {struct nested}]
call ping_struct {dict number n text s list {list n n s} nested {dict real n}} ping {{struct data}}
array set keyed [list key [list int $b]]
call ping_array {list n s {dict key n} {list n}} ping \
    [list [list array [list [list int $a] {string two} {struct keyed} {array {{double 1.5}}}]]]
call ping_double n ping {{double -1234.5}}
call ping_boolean b ping {{boolean 1}}
set when [call ping_datetime_native s ping {{dateTime.iso8601 20260102T03:04:05}}]
if {[regexp {^(\d{4})(\d\d)(\d\d)T(.*)$} $when -> year month day time]} {
    report ping_datetime "\"result\":[json_string "$year-$month-${day}T$time"]"
}
set blob [binary encode base64 [binary format c* {0 1 254 255 60 98 105 110 62}]]
set echoed [call ping_base64_native s ping [list [list base64 $blob]]]
if {![catch {binary decode base64 $echoed} bytes]} {
    binary scan $bytes H* hex
    report ping_base64 "\"result\":[json_string $hex]"
}
call unknown_method n no_such_method [list [list int $a]]
call i8_result n getpow {{int 2} {int 40}}
array set first [list methodName {string add} params [list array [list [list int $a] [list int $b]]]]
array set second [list methodName {string subtract} params [list array [list [list int $a] [list int $b]]]]
array set third [list methodName {string divide} params [list array [list [list int $a] {int 0}]]]
call multicall {list {list n} {list n} {dict faultCode n faultString s}} system.multicall \
    {{array {{struct first} {struct second} {struct third}}}}

set numbers {}
for {set i 0} {$i < $large} {incr i} {
    lappend numbers [list int $i]
}
if {![catch {answer [xmlrpc::call $server $path ping [list [list array $numbers]]]} echoed]} {
    report ping_large "\"result\":{\"count\":[llength $echoed],\"sum\":[tcl::mathop::+ {*}$echoed]}"
} else {
    report ping_large "\"error\":[json_string $echoed]"
}
set count 0
set sum 0
for {set i 0} {$i < 100} {incr i} {
    if {[catch {answer [xmlrpc::call $server $path add [list [list int $i] [list int $b]]]} added]} {
        break
    }
    incr count
    incr sum $added
}
report sequential "\"result\":{\"count\":$count,\"sum\":$sum}"
