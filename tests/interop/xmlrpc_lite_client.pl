#!/usr/bin/perl
# Perl's XMLRPC::Lite (SOAP::Lite, Debian libxmlrpc-lite-perl).
#
# Usage: xmlrpc_lite_client.pl URL A B NAME LARGE_COUNT LATIN1_NAME
# Prints one JSON object per call. XMLRPC::Lite hands back untyped Perl
# scalars (an <int> arrives as the string "105"), so the test compares them
# as text. It sends any non-ASCII string as <base64>: NAME is passed as the
# UTF-8 bytes the program got (a string with wide characters makes
# MIME::Base64 die), LATIN1_NAME as a Perl string of Latin-1 characters,
# which goes out as Latin-1 bytes. A fault is the native SOAP::SOM fault; a
# reply the library cannot read is the message it dies with.
use strict;
use warnings;

use Encode qw(decode_utf8);
use JSON::PP;
use XMLRPC::Lite;

my ($url, $a, $b, $name_bytes, $large, $latin1_bytes) = @ARGV;
die "usage: $0 URL A B NAME LARGE_COUNT LATIN1_NAME\n" unless defined $latin1_bytes;
my $json = JSON::PP->new->utf8->canonical;
my $proxy = XMLRPC::Lite->proxy($url, timeout => 10);

# Run one call; return (som, undef) or (undef, the message the library died with).
sub call {
    my ($method, @params) = @_;
    my $som = eval { $proxy->call($method, @params) };
    return $som ? ($som, undef) : (undef, "$@" || 'no answer');
}

sub report {
    my ($call, $som, $died, $shape) = @_;
    my %line = (call => $call);
    if (!$som) {
        $line{error} = $died;
    } elsif ($som->fault) {
        $line{fault} = { code => $som->faultcode, message => $som->faultstring };
        $line{native} = 'SOAP::SOM->fault';
    } else {
        $line{result} = $shape ? $shape->($som->result) : $som->result;
    }
    print $json->encode(\%line), "\n";
}

# system.multicall answers [value] per success and a fault struct per failure.
sub multicall_entries {
    my ($answers) = @_;
    return [map {
        ref $_ eq 'HASH'
            ? { fault => { code => $_->{faultCode}, message => $_->{faultString} } }
            : { result => $_->[0] }
    } @$answers];
}

sub count_and_sum {
    my ($items) = @_;
    my $sum = 0;
    $sum += $_ for @$items;
    return { count => scalar @$items, sum => $sum };
}

report(add => call('add', $a, $b));
report(subtract => call('subtract', $a, $b));
report(divide => call('divide', $a, $b));
report(divide_by_zero => call('divide', $a, 0));
report(hello => call('hello', $name_bytes));
report(hello_latin1 => call('hello', decode_utf8($latin1_bytes)));
report(hello_wide_characters => call('hello', decode_utf8($name_bytes)));
report(ping_struct => call('ping', {
    number => $a, text => 'plain', list => [$a, $b, 'three'], nested => { real => 2.5 } }));
report(ping_array => call('ping', [$a, 'two', { key => $b }, [1.5]]));
report(multicall => call('system.multicall', [
    { methodName => 'add', params => [$a, $b] },
    { methodName => 'subtract', params => [$a, $b] },
    { methodName => 'divide', params => [$a, 0] },
]), \&multicall_entries);
my @large = (0 .. $large - 1);
report(ping_large => call('ping', \@large), \&count_and_sum);
report(i8_result => call('getpow', 2, 40));
