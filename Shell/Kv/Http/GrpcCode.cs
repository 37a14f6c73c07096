namespace Raft.Kv.Http;

/// <summary>gRPC status codes, which etcd's JSON gateway reports in an error's <c>code</c>.</summary>
public enum GrpcCode
{
    /// <summary>Not an error.</summary>
    Ok = 0,
    /// <summary>The operation was cancelled.</summary>
    Canceled = 1,
    /// <summary>An error without a better code.</summary>
    Unknown = 2,
    /// <summary>The request is invalid.</summary>
    InvalidArgument = 3,
    /// <summary>The deadline passed.</summary>
    DeadlineExceeded = 4,
    /// <summary>Something named does not exist.</summary>
    NotFound = 5,
    /// <summary>Something to be created exists.</summary>
    AlreadyExists = 6,
    /// <summary>Not allowed.</summary>
    PermissionDenied = 7,
    /// <summary>A resource (here: message size) is exhausted.</summary>
    ResourceExhausted = 8,
    /// <summary>The system is not in the state the operation needs.</summary>
    FailedPrecondition = 9,
    /// <summary>Aborted.</summary>
    Aborted = 10,
    /// <summary>Outside the valid range (e.g. a revision).</summary>
    OutOfRange = 11,
    /// <summary>Not implemented.</summary>
    Unimplemented = 12,
    /// <summary>An internal error.</summary>
    Internal = 13,
    /// <summary>The service is unavailable (no leader, stopped, timed out).</summary>
    Unavailable = 14,
    /// <summary>Data was lost.</summary>
    DataLoss = 15,
    /// <summary>Not authenticated.</summary>
    Unauthenticated = 16,
}

/// <summary>The HTTP status grpc-gateway v1 (etcd 3.4/3.5) gives each gRPC code (runtime.HTTPStatusFromCode).</summary>
public static class GrpcHttpStatus
{
    /// <summary>The HTTP status for <paramref name="code"/>.</summary>
    public static int Of(GrpcCode code) => code switch
    {
        GrpcCode.Ok => 200,
        GrpcCode.Canceled => 408,
        GrpcCode.Unknown => 500,
        GrpcCode.InvalidArgument => 400,
        GrpcCode.DeadlineExceeded => 504,
        GrpcCode.NotFound => 404,
        GrpcCode.AlreadyExists => 409,
        GrpcCode.PermissionDenied => 403,
        GrpcCode.ResourceExhausted => 429,
        GrpcCode.FailedPrecondition => 412,
        GrpcCode.Aborted => 409,
        GrpcCode.OutOfRange => 400,
        GrpcCode.Unimplemented => 501,
        GrpcCode.Internal => 500,
        GrpcCode.Unavailable => 503,
        GrpcCode.DataLoss => 500,
        GrpcCode.Unauthenticated => 401,
        _ => 500,
    };
}
